"""Reading versioned financial statements: the newest numbers of each report, and point-in-time.

Each statement table keeps every distinct version Tushare published: revisions, the originals of changed
statements (`report_type` 5), restated comparatives (type 4). Every version carries `known_from`, the
first day it counts as public (see `stock_pipeline.versions`): the later of its announcement dates, or,
for a correction that shares its original's dates, the day the warehouse first stored it.

    from stock_pipeline.statements import as_of
    with warehouse.engine.connect() as conn:
        rows = conn.execute(as_of(INCOME, date(2024, 4, 30))).mappings().all()

`as_of(dataset, day)` gives one row per report (ts_code, end_date): the version that became public
last on or before `day`, so it never returns a number that may not have been public on `day`. The
warehouse also has a view per statement, `<table>_latest` (e.g. `income_latest`), with the newest known
numbers of each report: the latest statement (type 1) where there is one.
"""

import hashlib
from datetime import date

import sqlalchemy as sa

from stock_pipeline.database import lock_schema
from stock_pipeline.datasets import (
    KNOWN_FROM,
    LATEST_STATEMENT,
    ORIGINAL_BEFORE_CHANGE,
    RESTATED_COMPARATIVES,
    STATEMENT_DATASETS,
    TushareDataset,
)
from stock_pipeline.warehouse import TABLES, warehouse_meta

# The consolidated statement family read by `latest` and `as_of`, most authoritative first: the latest
# statement, restated comparatives, the original before a change. Other types (single quarter, parent
# company) are stored when configured but are different statements.
CONSOLIDATED_TYPES = (LATEST_STATEMENT, RESTATED_COMPARATIVES, ORIGINAL_BEFORE_CHANGE)


def _type_rank(table: sa.Table) -> sa.ColumnElement:
    if "report_type" not in table.c:
        return sa.literal(0)
    return sa.case(
        *((table.c.report_type == value, rank) for rank, value in enumerate(CONSOLIDATED_TYPES)),
        else_=len(CONSOLIDATED_TYPES),
    )


def _ranked(dataset: TushareDataset, order: list[sa.ColumnElement], where: list[sa.ColumnElement]) -> sa.Select:
    table = TABLES[dataset.api_name]
    if "report_type" in table.c:
        where = [*where, table.c.report_type.in_(CONSOLIDATED_TYPES)]
    # Ties end in explicit, NULL-free keys, so both databases pick the same row.
    order = [
        *order,
        sa.func.coalesce(table.c.update_flag, "0").desc(),
        table.c.first_seen_at.desc(),
        table.c.version_hash,
    ]
    rank = sa.func.row_number().over(partition_by=[table.c.ts_code, table.c.end_date], order_by=order)
    ranked = sa.select(table, rank.label("version_rank")).where(*where).subquery()
    return sa.select(*(ranked.c[column.name] for column in table.columns)).where(ranked.c.version_rank == 1)


def latest(dataset: TushareDataset) -> sa.Select:
    """The newest known numbers of every report: the latest statement, its newest version."""
    table = TABLES[dataset.api_name]
    return _ranked(dataset, [_type_rank(table), table.c[KNOWN_FROM].desc()], [])


def as_of(dataset: TushareDataset, day: date) -> sa.Select:
    """Each report as it was known on `day`: the version that became public last on or before it."""
    table = TABLES[dataset.api_name]
    return _ranked(dataset, [table.c[KNOWN_FROM].desc(), _type_rank(table)], [table.c[KNOWN_FROM] <= day])


def create_latest_views(engine: sa.Engine) -> None:
    """Create the `<table>_latest` views, replacing any whose definition changed (a new column, a new
    ranking) since it was created."""
    with engine.begin() as conn:
        lock_schema(conn)
        existing = set(sa.inspect(conn).get_view_names())
        for dataset in STATEMENT_DATASETS:
            view = f"{dataset.api_name}_latest"
            body = str(latest(dataset).compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
            digest = hashlib.sha256(body.encode()).hexdigest()
            key = f"view:{view}"
            recorded = conn.execute(sa.select(warehouse_meta.c.value).where(warehouse_meta.c.key == key)).scalar()
            if view in existing and recorded == digest:
                continue
            conn.exec_driver_sql(f"DROP VIEW IF EXISTS {view}")
            conn.exec_driver_sql(f"CREATE VIEW {view} AS {body}")
            conn.execute(warehouse_meta.delete().where(warehouse_meta.c.key == key))
            conn.execute(warehouse_meta.insert().values(key=key, value=digest))
