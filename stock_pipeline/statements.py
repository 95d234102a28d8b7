"""Reading versioned financial statements: the latest version of each report, and point-in-time.

Each statement table keeps every distinct version Tushare published (original, revisions). A version
is known from its announcement: the later of `ann_date` and `f_ann_date`, so that a point-in-time query
never sees a version before the public could.

    from stock_pipeline.statements import as_of
    with warehouse.engine.connect() as conn:
        rows = conn.execute(as_of(INCOME, date(2024, 4, 30))).mappings().all()

The warehouse also has a view per statement, `<table>_latest` (e.g. `income_latest`), holding the
newest version of each (ts_code, end_date, report_type).
"""

from datetime import date

import sqlalchemy as sa

from stock_pipeline.database import lock_schema
from stock_pipeline.datasets import STATEMENT_DATASETS, TushareDataset
from stock_pipeline.warehouse import TABLES


def known_date(table: sa.Table) -> sa.ColumnElement:
    """The date from which a version was public."""
    if "f_ann_date" not in table.c:
        return table.c.ann_date
    return sa.case(
        (
            sa.and_(
                table.c.f_ann_date.is_not(None),
                sa.or_(table.c.ann_date.is_(None), table.c.f_ann_date > table.c.ann_date),
            ),
            table.c.f_ann_date,
        ),
        else_=table.c.ann_date,
    )


def _ranked(dataset: TushareDataset, where: sa.ColumnElement | None, newest_by_announcement: bool) -> sa.Select:
    table = TABLES[dataset.api_name]
    announced = known_date(table)
    order = [announced.desc(), table.c.update_flag.desc()]
    if not newest_by_announcement:
        order.reverse()
    rank = sa.func.row_number().over(
        partition_by=[table.c[name] for name in dataset.report_key], order_by=[*order, table.c.version_hash]
    )
    inner = sa.select(table, announced.label("known_date"), rank.label("version_rank"))
    if where is not None:
        inner = inner.where(where)
    ranked = inner.subquery()
    columns = [ranked.c[name] for name in (*dataset.stored_fields, "known_date")]
    return sa.select(*columns).where(ranked.c.version_rank == 1)


def latest(dataset: TushareDataset) -> sa.Select:
    """The newest version of every report: revised (`update_flag` 1) first, then the latest announced."""
    return _ranked(dataset, None, newest_by_announcement=False)


def as_of(dataset: TushareDataset, day: date) -> sa.Select:
    """Each report as it was known on `day`: the latest version announced on or before it."""
    table = TABLES[dataset.api_name]
    return _ranked(dataset, known_date(table) <= day, newest_by_announcement=True)


def create_latest_views(engine: sa.Engine) -> None:
    """Create the `<table>_latest` views that do not exist yet."""
    with engine.begin() as conn:
        lock_schema(conn)
        existing = set(sa.inspect(conn).get_view_names())
        for dataset in STATEMENT_DATASETS:
            body = latest(dataset).compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
            view = f"{dataset.api_name}_latest"
            if view not in existing:
                conn.exec_driver_sql(f"CREATE VIEW {view} AS {body}")
