"""The warehouse: one table per dataset (named as the Tushare API, columns as its fields), written in
bulk and atomically.

Writes go through the fastest path each database offers: PostgreSQL `COPY` (into a temporary table
first when rows are merged), SQLite `executemany`, always inside one transaction per partition, so a
crash leaves the previous state and a re-run leaves exactly the same rows.
"""

import csv
import io
import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from stock_pipeline import versions
from stock_pipeline.database import create_engine, ensure_tables, is_postgres, lock_schema
from stock_pipeline.datasets import (
    ALL_DATASETS,
    DISCLOSURE_DATE,
    STOCK_BASIC,
    SUSPEND_D,
    TRADE_CAL,
    VERSION_HASH,
    TushareDataset,
)
from stock_pipeline.tushare.client import TushareFrame
from stock_pipeline.tushare.errors import TushareSchemaError

_COLUMN_TYPES = {
    "str": sa.String,
    "date": sa.Date,
    "int": sa.Integer,
    "float": lambda: sa.Float(53),
    "timestamp": lambda: sa.DateTime(timezone=True),
}
_ALLOWED_TYPES = {
    "str": {str, type(None)},
    "date": {str, type(None)},
    "int": {int, type(None)},
    "float": {float, int, type(None)},
}
_TUSHARE_DATE = re.compile(r"\d{8}")
SHANGHAI = ZoneInfo("Asia/Shanghai")
# Bumped when the way versions are identified changes; tables written before are re-identified.
VERSION_SCHEME = "2"

metadata = sa.MetaData()


def _dataset_table(dataset: TushareDataset) -> sa.Table:
    table_columns = [
        sa.Column(column.name, _COLUMN_TYPES[column.kind](), nullable=column.name not in dataset.key)
        for column in dataset.stored_columns
    ]
    indexes = []
    if dataset.date_column:
        indexes.append(sa.Index(f"ix_{dataset.api_name}_{dataset.date_column}", dataset.date_column))
    if dataset.report_key:
        indexes.append(sa.Index(f"ix_{dataset.api_name}_report", *dataset.report_key))
    for name in (dataset.code_param, "ts_code" if dataset.per_stock or not dataset.key else None):
        if name and name in dataset.fields and name not in dataset.key[:1]:
            indexes.append(sa.Index(f"ix_{dataset.api_name}_{name}", name))
    return sa.Table(
        dataset.api_name,
        metadata,
        *table_columns,
        *([sa.PrimaryKeyConstraint(*dataset.key, name=f"pk_{dataset.api_name}")] if dataset.key else []),
        *indexes,
        comment=dataset.description,
    )


TABLES = {dataset.api_name: _dataset_table(dataset) for dataset in ALL_DATASETS}

partition_sync_log = sa.Table(
    "partition_sync_log",
    metadata,
    sa.Column("dataset", sa.String(64), primary_key=True),
    sa.Column("partition_key", sa.String(64), primary_key=True),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("run_id", sa.String(64)),
    sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
    comment="One row per partition written (per stock for statements), and the run that wrote it last.",
)

sync_failure = sa.Table(
    "sync_failure",
    metadata,
    sa.Column("dataset", sa.String(64), primary_key=True),
    sa.Column("ts_code", sa.String(16), primary_key=True),
    sa.Column("partition_key", sa.String(64), nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # failing | given_up | resolved
    sa.Column("first_failed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("resolved_at", sa.DateTime(timezone=True)),
    comment="Per-stock sync failures: attempts, retry state, and when a later fetch resolved them.",
)
FAILING, GIVEN_UP, RESOLVED = "failing", "given_up", "resolved"

schema_change = sa.Table(
    "schema_change",
    metadata,
    sa.Column("table_name", sa.String(64), primary_key=True),
    sa.Column("column_name", sa.String(64), primary_key=True),
    sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
    comment="Columns added to an existing table when a declaration gained a field. Versions stored "
    "before lack them, so they are not part of a version's identity.",
)

warehouse_meta = sa.Table(
    "warehouse_meta",
    metadata,
    sa.Column("key", sa.String(128), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    comment="Schema bookkeeping: the version-identity scheme of each statement table, view definitions.",
)


@dataclass(frozen=True)
class Batch:
    """Rows of one dataset held column by column (the dataset's column order), type-checked.

    Dates stay Tushare `YYYYMMDD` strings; `Warehouse` renders them for each database.
    """

    columns: tuple[tuple[Any, ...], ...]
    # Declared fields the answer lacked (stored as NULL) and fields it carried unasked (ignored).
    missing_fields: tuple[str, ...] = ()
    extra_fields: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.columns[0]) if self.columns else 0

    def rows(self) -> Iterator[tuple]:
        return zip(*self.columns)


def frame_to_batch(dataset: TushareDataset, frame: TushareFrame) -> Batch:
    """Check an answer's values against the dataset's column kinds, column by column at C speed.

    A declared field the answer lacks is stored as NULL and reported (the service drops retired fields
    silently); a missing key, partition date or report identity field makes the answer unusable."""
    positions = {name: index for index, name in enumerate(frame.fields)}
    lacking = [name for name in dataset.required_fields if name not in positions]
    if lacking:
        raise TushareSchemaError(
            f"answer lacks the field(s) {lacking} needed to store it (has {list(frame.fields)[:12]})",
            api_name=dataset.api_name,
        )
    missing = tuple(column.name for column in dataset.columns if column.name not in positions)
    extra = tuple(name for name in frame.fields if name not in set(dataset.fields))
    if not frame.items:
        return Batch((), missing, extra)
    transposed = list(zip(*frame.items, strict=True))
    nulls = (None,) * len(frame.items)
    ordered = []
    for column in dataset.columns:
        values = transposed[positions[column.name]] if column.name in positions else nulls
        bad_types = set(map(type, values)) - _ALLOWED_TYPES[column.kind]
        if column.kind == "int" and bad_types <= {str}:
            values, bad_types = _parse_int_strings(dataset, column.name, values), set()
        if bad_types:
            sample = next(value for value in values if type(value) in bad_types)
            raise TushareSchemaError(
                f"column `{column.name}` should hold {column.kind} values but has {sample!r}",
                api_name=dataset.api_name,
            )
        if column.kind == "date":
            malformed = [value for value in values if value is not None and not _TUSHARE_DATE.fullmatch(value)]
            if malformed:
                raise TushareSchemaError(
                    f"column `{column.name}` should hold YYYYMMDD dates but has {malformed[0]!r}",
                    api_name=dataset.api_name,
                )
        if column.name in dataset.key and None in values:
            raise TushareSchemaError(f"key column `{column.name}` has empty values", api_name=dataset.api_name)
        ordered.append(values)
    return _without_duplicates(dataset, Batch(tuple(ordered), missing, extra))


def _without_duplicates(dataset: TushareDataset, batch: Batch) -> Batch:
    """Drop rows repeated verbatim (pages can overlap); refuse rows that share a key but disagree.

    Versioned datasets have no key before their versions are identified: every distinct row is kept."""
    unique_rows = list(dict.fromkeys(batch.rows()))
    if dataset.report_key or not dataset.key:
        return batch if len(unique_rows) == len(batch) else Batch(tuple(zip(*unique_rows)), *batch_drift(batch))
    key_positions = [dataset.fields.index(name) for name in dataset.key]
    keys = {tuple(row[position] for position in key_positions) for row in unique_rows}
    if len(keys) != len(unique_rows):
        raise TushareSchemaError(
            f"answer has {len(unique_rows) - len(keys)} rows that share a key {dataset.key} "
            "but differ in values (the data changed while it was paged?)",
            api_name=dataset.api_name,
        )
    return batch if len(unique_rows) == len(batch) else Batch(tuple(zip(*unique_rows)), *batch_drift(batch))


def batch_drift(batch: Batch) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return batch.missing_fields, batch.extra_fields


def concat_batches(dataset: TushareDataset, batches: Sequence[Batch]) -> Batch:
    """One batch from several answers of one dataset, drift reports merged."""
    rows = [row for batch in batches for row in batch.rows()]
    missing = tuple(dict.fromkeys(name for batch in batches for name in batch.missing_fields))
    extra = tuple(dict.fromkeys(name for batch in batches for name in batch.extra_fields))
    combined = Batch(tuple(zip(*rows)) if rows else (), missing, extra)
    return _without_duplicates(dataset, combined)


def merged_by_key(dataset: TushareDataset, batches: Sequence[Batch]) -> Batch:
    """One batch from several answers that may each hold a row of the same key (a stock whose listing
    status changed between calls): the later answer wins. Keyless datasets lose only exact repeats."""
    rows = [row for batch in batches for row in batch.rows()]
    positions = [dataset.fields.index(name) for name in dataset.key]
    merged = {tuple(row[p] for p in positions) if positions else row: row for row in rows}
    missing = tuple(dict.fromkeys(name for batch in batches for name in batch.missing_fields))
    extra = tuple(dict.fromkeys(name for batch in batches for name in batch.extra_fields))
    return Batch(tuple(zip(*merged.values())) if merged else (), missing, extra)


def _parse_int_strings(dataset: TushareDataset, name: str, values: Sequence[Any]) -> tuple:
    # `trade_cal.is_open` is documented as a string but sent as a JSON integer; accept both spellings.
    try:
        return tuple(None if value is None else int(value) for value in values)
    except ValueError:
        raise TushareSchemaError(f"column `{name}` should hold integers", api_name=dataset.api_name) from None


def _joined(columns: Sequence[sa.ColumnElement]) -> sa.ColumnElement:
    """One expression distinct exactly when the tuple of `columns` is (COUNT DISTINCT takes one)."""
    if len(columns) == 1:
        return columns[0]
    joined = sa.cast(columns[0], sa.String)
    for column in columns[1:]:
        joined = joined + "|" + sa.cast(column, sa.String)
    return joined


def tushare_date(value: date) -> str:
    return value.strftime("%Y%m%d")


def _tushare_value(value: Any) -> Any:
    """A value read back from the warehouse, spelled as Tushare sends it (dates as YYYYMMDD)."""
    return tushare_date(value) if isinstance(value, date) and not isinstance(value, datetime) else value


class Warehouse:
    def __init__(self, url: str):
        self.engine = create_engine(url)
        self._postgres = is_postgres(self.engine)

    def create_tables(self) -> None:
        """Create missing tables and bring existing ones up to the declarations (see `migrate`)."""
        ensure_tables(self.engine, metadata)
        self.migrate()

    def migrate(self) -> None:
        """Add the columns a declaration gained to existing tables, and re-identify the versions of
        statement tables written under an older identity scheme. Safe to run at every start."""
        with self.engine.begin() as conn:
            lock_schema(conn)
            for dataset in ALL_DATASETS:
                existing = {column["name"] for column in sa.inspect(conn).get_columns(dataset.api_name)}
                for column in dataset.stored_columns:
                    if column.name in existing:
                        continue
                    column_type = _COLUMN_TYPES[column.kind]().compile(dialect=conn.dialect)
                    table, name = self._quote(dataset.api_name), self._quote(column.name)
                    conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {name} {column_type}")
                    if column.name in dataset.fields:
                        conn.execute(
                            schema_change.insert().values(
                                table_name=dataset.api_name, column_name=column.name, added_at=datetime.now(UTC)
                            )
                        )
                if dataset.report_key:
                    self._ensure_version_scheme(conn, dataset)

    def _ensure_version_scheme(self, conn: sa.Connection, dataset: TushareDataset) -> None:
        key = f"version_scheme:{dataset.api_name}"
        if (
            conn.execute(sa.select(warehouse_meta.c.value).where(warehouse_meta.c.key == key)).scalar()
            == VERSION_SCHEME
        ):
            return
        table = TABLES[dataset.api_name]
        rows = [
            {name: _tushare_value(value) for name, value in row.items()}
            for row in conn.execute(sa.select(*(table.c[name] for name in dataset.fields))).mappings()
        ]
        if rows:
            # Versions hashed by an older scheme: identify them again, merging rows that differ only in
            # update_flag. Their first-seen time is unknown, so it is now (the conservative choice).
            conn.execute(table.delete())
            self._write_versions(conn, dataset, rows, stored=[], added_later=self._added_columns(conn, dataset))
        conn.execute(warehouse_meta.delete().where(warehouse_meta.c.key == key))
        conn.execute(warehouse_meta.insert().values(key=key, value=VERSION_SCHEME))

    def _added_columns(self, conn: sa.Connection, dataset: TushareDataset) -> set[str]:
        return set(
            conn.execute(
                sa.select(schema_change.c.column_name).where(schema_change.c.table_name == dataset.api_name)
            ).scalars()
        )

    def dispose(self) -> None:
        self.engine.dispose()

    # -- writes -------------------------------------------------------------------------------------

    def replace_date(self, dataset: TushareDataset, day: date, batch: Batch, run_id: str | None = None) -> None:
        """Atomically replace one trading date of a dataset and log the partition as synced."""
        table = TABLES[dataset.api_name]
        with self.engine.begin() as conn:
            conn.execute(table.delete().where(table.c[dataset.date_column] == day))
            self._bulk_insert(conn, table.name, dataset, batch)
            self._log_partition(conn, dataset, day.isoformat(), len(batch), run_id)

    def replace_rows(
        self, dataset: TushareDataset, batch: Batch, partition_key: str, where: dict[str, Sequence[str]] | None = None
    ) -> None:
        """Atomically replace the rows matching `where` (column -> values; all rows when None) and log
        the partition as synced: a snapshot, one index's history, one stock's events."""
        table = TABLES[dataset.api_name]
        with self.engine.begin() as conn:
            delete = table.delete()
            for name, values in (where or {}).items():
                delete = delete.where(table.c[name].in_(list(values)))
            conn.execute(delete)
            self._bulk_insert(conn, table.name, dataset, batch)
            self._log_partition(conn, dataset, partition_key, len(batch), None)

    def upsert(self, dataset: TushareDataset, batch: Batch, run_id: str | None = None) -> None:
        """Insert new rows and update existing ones by primary key; never deletes (nothing is pruned)."""
        with self.engine.begin() as conn:
            self._merge(conn, dataset, batch, self._on_conflict_update(dataset))
            self._log_partition(conn, dataset, "__all__", len(batch), run_id)

    def insert_versions(self, dataset: TushareDataset, batch: Batch, fetched_stocks: Iterable[str]) -> int:
        """Add the versions not stored yet, and resolve open failures of the stocks fetched, atomically.

        Returns how many new versions were stored. A version stored before keeps its first-seen time and
        known-from day; its update_flag follows the service, and columns it lacks are filled in."""
        fetched = list(fetched_stocks)
        rows = [dict(zip(dataset.fields, row, strict=True)) for row in batch.rows()]
        with self.engine.begin() as conn:
            table = TABLES[dataset.api_name]
            names = ("ts_code", "end_date", "report_type", VERSION_HASH, *versions.ANNOUNCEMENT_DATES)
            stored = [
                {name: _tushare_value(value) for name, value in row.items()}
                for row in conn.execute(
                    sa.select(*(table.c[name] for name in names if name in table.c)).where(
                        table.c.ts_code.in_({row["ts_code"] for row in rows})
                    )
                ).mappings()
            ]
            added = self._write_versions(conn, dataset, rows, stored, self._added_columns(conn, dataset))
            conn.execute(
                sync_failure.update()
                .where(
                    sync_failure.c.dataset == dataset.api_name,
                    sync_failure.c.ts_code.in_(fetched),
                    sync_failure.c.status != RESOLVED,
                )
                .values(status=RESOLVED, resolved_at=datetime.now(UTC))
            )
        return added

    def _write_versions(
        self,
        conn: sa.Connection,
        dataset: TushareDataset,
        rows: list[dict[str, Any]],
        stored: list[dict[str, Any]],
        added_later: set[str],
    ) -> int:
        kinds = {column.name: column.kind for column in dataset.columns}
        identity = versions.identity_fields(dataset, added_later)
        distinct: dict[str, dict[str, Any]] = {}
        for row in rows:
            digest = versions.version_hash(row, identity, kinds)
            previous = distinct.get(digest)
            # The same version twice (e.g. once per update_flag): keep every value either carried.
            distinct[digest] = (
                row if previous is None else {k: row[k] if row[k] is not None else previous[k] for k in row}
            )
        stored_hashes = {row[VERSION_HASH] for row in stored}
        new = {digest: row for digest, row in distinct.items() if digest not in stored_hashes}
        now = datetime.now(UTC)
        known = versions.known_from(
            new,
            [versions.StoredVersion(versions.report_of(row), versions.announced(row)) for row in stored],
            now.astimezone(SHANGHAI).date(),
        )
        today = now.astimezone(SHANGHAI).strftime("%Y%m%d")
        ordered = [
            (*(row[name] for name in dataset.fields), digest, now, known.get(digest, today))
            for digest, row in distinct.items()
        ]
        if ordered:
            refreshable = [name for name in dataset.fields if name not in identity]
            self._merge(conn, dataset, Batch(tuple(zip(*ordered))), self._on_conflict_fill(dataset, refreshable))
        return len(new)

    def _merge(self, conn: sa.Connection, dataset: TushareDataset, batch: Batch, on_conflict: str) -> int:
        if not len(batch):
            return 0
        table = self._quote(dataset.api_name)
        if self._postgres:
            staging = f"staging_{dataset.api_name}"
            conn.exec_driver_sql(f"CREATE TEMP TABLE {staging} (LIKE {table}) ON COMMIT DROP")
            self._bulk_insert(conn, staging, dataset, batch)
            result = conn.exec_driver_sql(f"INSERT INTO {table} SELECT * FROM {staging}" + on_conflict)
        else:
            result = conn.exec_driver_sql(
                self._insert_sql(dataset.api_name, dataset) + on_conflict, list(self._sqlite_rows(dataset, batch))
            )
        return result.rowcount

    def record_failure(
        self, dataset: TushareDataset, ts_code: str, partition_key: str, error: str, max_retries: int
    ) -> dict[str, object]:
        """Count a failed fetch; after `max_retries` failed retries the stock is given up (but stays listed)."""
        now = datetime.now(UTC)
        where = (sync_failure.c.dataset == dataset.api_name, sync_failure.c.ts_code == ts_code)
        with self.engine.begin() as conn:
            previous = conn.execute(sa.select(sync_failure).where(*where)).mappings().first()
            ongoing = previous is not None and previous["status"] != RESOLVED
            attempts = previous["attempts"] + 1 if ongoing else 1
            values = {
                "partition_key": partition_key,
                "error": error[:4000],
                "attempts": attempts,
                "status": GIVEN_UP if attempts > max_retries else FAILING,
                "first_failed_at": previous["first_failed_at"] if ongoing else now,
                "last_failed_at": now,
                "resolved_at": None,
            }
            if previous is None:
                conn.execute(sync_failure.insert().values(dataset=dataset.api_name, ts_code=ts_code, **values))
            else:
                conn.execute(sync_failure.update().where(*where).values(**values))
        return values

    def failures(self, dataset: TushareDataset | None = None, statuses: Sequence[str] = (FAILING, GIVEN_UP)):
        query = sa.select(sync_failure).where(sync_failure.c.status.in_(statuses))
        if dataset is not None:
            query = query.where(sync_failure.c.dataset == dataset.api_name)
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(query.order_by(sync_failure.c.ts_code)).mappings()]

    def disclosures_since(self, day: date) -> list[tuple[str, date, date]]:
        """(ts_code, end_date, actual_date) of reports disclosed on or after `day`."""
        table = TABLES[DISCLOSURE_DATE.api_name]
        with self.engine.connect() as conn:
            return [
                tuple(row)
                for row in conn.execute(
                    sa.select(table.c.ts_code, table.c.end_date, table.c.actual_date)
                    .where(table.c.actual_date >= day)
                    .order_by(table.c.actual_date, table.c.ts_code)
                )
            ]

    def latest_disclosure(self) -> date | None:
        table = TABLES[DISCLOSURE_DATE.api_name]
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.max(table.c.actual_date))).scalar()

    def stored_reports(self, dataset: TushareDataset, ts_codes: Iterable[str]) -> set[tuple[str, date]]:
        """(ts_code, end_date) of the reports of these stocks with at least one version stored."""
        table = TABLES[dataset.api_name]
        codes = sorted(set(ts_codes))
        found: set[tuple[str, date]] = set()
        with self.engine.connect() as conn:
            for chunk_start in range(0, len(codes), 500):
                query = (
                    sa.select(table.c.ts_code, table.c.end_date)
                    .where(table.c.ts_code.in_(codes[chunk_start : chunk_start + 500]))
                    .distinct()
                )
                found.update((code, end) for code, end in conn.execute(query))
        return found

    def known_stock_codes(self) -> set[str]:
        """Codes in `stock_basic` or in the disclosure calendar."""
        stocks, disclosures = TABLES[STOCK_BASIC.api_name], TABLES[DISCLOSURE_DATE.api_name]
        with self.engine.connect() as conn:
            return set(conn.execute(sa.union(sa.select(stocks.c.ts_code), sa.select(disclosures.c.ts_code))).scalars())

    def delisted_before(self, day: date) -> set[str]:
        table = TABLES[STOCK_BASIC.api_name]
        with self.engine.connect() as conn:
            return set(conn.execute(sa.select(table.c.ts_code).where(table.c.delist_date < day)).scalars())

    def stock_codes(self) -> list[str]:
        """Every stock in `stock_basic`, delisted ones included."""
        table = TABLES[STOCK_BASIC.api_name]
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(table.c.ts_code).order_by(table.c.ts_code)).scalars())

    def _bulk_insert(self, conn: sa.Connection, table_name: str, dataset: TushareDataset, batch: Batch) -> None:
        if not len(batch):
            return
        if not self._postgres:
            conn.exec_driver_sql(self._insert_sql(table_name, dataset), list(self._sqlite_rows(dataset, batch)))
            return
        buffer = io.StringIO()
        csv.writer(buffer).writerows(batch.rows())  # PostgreSQL parses YYYYMMDD dates natively
        buffer.seek(0)
        columns = ", ".join(self._quote(name) for name in dataset.stored_fields)
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            cursor.copy_expert(f"COPY {self._quote(table_name)} ({columns}) FROM STDIN WITH (FORMAT csv)", buffer)
        finally:
            cursor.close()

    def _insert_sql(self, table_name: str, dataset: TushareDataset) -> str:
        columns = ", ".join(self._quote(name) for name in dataset.stored_fields)
        placeholders = ", ".join("?" for _ in dataset.stored_fields)
        return f"INSERT INTO {self._quote(table_name)} ({columns}) VALUES ({placeholders})"

    def _on_conflict_fill(self, dataset: TushareDataset, names: Sequence[str]) -> str:
        """On a version stored before: take the service's current value of each non-identity field,
        keeping the stored one where the answer has none."""
        key = ", ".join(self._quote(name) for name in dataset.key)
        if not names:
            return f" ON CONFLICT ({key}) DO NOTHING"
        table = self._quote(dataset.api_name)
        updates = ", ".join(
            f"{self._quote(name)} = COALESCE(excluded.{self._quote(name)}, {table}.{self._quote(name)})"
            for name in names
        )
        return f" ON CONFLICT ({key}) DO UPDATE SET {updates}"

    def _on_conflict_update(self, dataset: TushareDataset) -> str:
        key = ", ".join(self._quote(name) for name in dataset.key)
        updates = ", ".join(
            f"{self._quote(name)} = excluded.{self._quote(name)}" for name in dataset.fields if name not in dataset.key
        )
        return f" ON CONFLICT ({key}) DO UPDATE SET {updates}"

    @staticmethod
    def _sqlite_rows(dataset: TushareDataset, batch: Batch) -> Iterator[tuple]:
        # SQLAlchemy's SQLite Date and DateTime types store ISO strings; keep that format so typed reads work.
        columns = [
            tuple(None if value is None else f"{value[:4]}-{value[4:6]}-{value[6:]}" for value in values)
            if column.kind == "date"
            else tuple(None if value is None else value.strftime("%Y-%m-%d %H:%M:%S.%f") for value in values)
            if column.kind == "timestamp"
            else values
            for column, values in zip(dataset.stored_columns, batch.columns, strict=True)
        ]
        return zip(*columns)

    def _log_partition(self, conn, dataset: TushareDataset, key: str, rows: int, run_id: str | None) -> None:
        values = {
            "dataset": dataset.api_name,
            "partition_key": key,
            "rows": rows,
            "run_id": run_id,
            "synced_at": datetime.now(UTC),
        }
        conn.execute(
            partition_sync_log.delete().where(
                partition_sync_log.c.dataset == dataset.api_name, partition_sync_log.c.partition_key == key
            )
        )
        conn.execute(partition_sync_log.insert().values(**values))

    def _quote(self, name: str) -> str:
        return self.engine.dialect.identifier_preparer.quote(name)

    # -- reads --------------------------------------------------------------------------------------

    def calendar(self, exchange: str = "SSE") -> dict[date, bool]:
        """Trading calendar known to the warehouse: date -> open?"""
        table = TABLES[TRADE_CAL.api_name]
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(table.c.cal_date, table.c.is_open).where(table.c.exchange == exchange)).all()
        return {cal_date: bool(is_open) for cal_date, is_open in rows}

    def listed_counts(self, days: Iterable[date]) -> dict[date, int]:
        """Stocks listed on each day (listed on or before it, not delisted by it), from `stock_basic`."""
        table = TABLES[STOCK_BASIC.api_name]
        with self.engine.connect() as conn:
            spans = conn.execute(sa.select(table.c.list_date, table.c.delist_date)).all()
        listed = sorted(list_date for list_date, _ in spans if list_date is not None)
        delisted = sorted(delist_date for _, delist_date in spans if delist_date is not None)
        return {day: bisect_right(listed, day) - bisect_right(delisted, day) for day in days}

    def expected_counts(self, days: Iterable[date]) -> dict[date, int]:
        """Stocks expected to trade each day: listed (`stock_basic`), less those suspended all day
        (`suspend_d`: type S without an intraday window)."""
        days = list(days)
        listed = self.listed_counts(days)
        table = TABLES[SUSPEND_D.api_name]
        whole_day = sa.and_(table.c.suspend_type == "S", table.c.suspend_timing.is_(None))
        suspended: dict[date, int] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(days), 500):
                query = (
                    sa.select(table.c.trade_date, sa.func.count(sa.distinct(table.c.ts_code)))
                    .where(whole_day, table.c.trade_date.in_(days[start : start + 500]))
                    .group_by(table.c.trade_date)
                )
                suspended |= dict(conn.execute(query).all())
        return {day: max(listed[day] - suspended.get(day, 0), 0) for day in days}

    def date_stats(self, dataset: TushareDataset, days: Sequence[date]) -> dict[date, dict[str, int]]:
        """Per trading date: rows, distinct keys and (for bars) rows breaking OHLC/volume sanity."""
        table = TABLES[dataset.api_name]
        day_column = table.c[dataset.date_column]
        other_key = [table.c[name] for name in dataset.key if name != dataset.date_column]
        measures = [
            sa.func.count().label("rows"),
            sa.func.count(sa.distinct(_joined(other_key))).label("distinct_keys"),
        ]
        if {"open", "high", "low", "close", "vol"} <= set(dataset.fields):
            c = table.c
            insane = sa.or_(
                c.low > c.open, c.low > c.close, c.high < c.open, c.high < c.close, c.low > c.high, c.vol < 0
            )
            measures.append(sa.func.sum(sa.case((insane, 1), else_=0)).label("insane_rows"))
        stats = {day: {"rows": 0, "distinct_keys": 0, "insane_rows": 0} for day in days}
        with self.engine.connect() as conn:
            for chunk_start in range(0, len(days), 500):
                chunk = list(days[chunk_start : chunk_start + 500])
                result = conn.execute(
                    sa.select(day_column, *measures).where(day_column.in_(chunk)).group_by(day_column)
                )
                for row in result.mappings():
                    stats[row[dataset.date_column]].update(
                        {key: int(value or 0) for key, value in row.items() if key != dataset.date_column}
                    )
        return stats

    def last_commits(self, dataset: TushareDataset, keys: Sequence[str]) -> dict[str, str | None]:
        """The run that last committed each of these partitions (None: written outside a run); partitions
        never committed are absent."""
        log = partition_sync_log.c
        commits: dict[str, str | None] = {}
        with self.engine.connect() as conn:
            for chunk_start in range(0, len(keys), 500):
                chunk = list(keys[chunk_start : chunk_start + 500])
                query = sa.select(log.partition_key, log.run_id).where(
                    log.dataset == dataset.api_name, log.partition_key.in_(chunk)
                )
                commits.update((key, run_id) for key, run_id in conn.execute(query))
        return commits

    def log_stock(self, dataset: TushareDataset, ts_code: str, rows: int, run_id: str | None) -> None:
        """Record that a run stored a stock's statements, keyed by its code. In a transaction of its own,
        after the versions' (a crash between the two costs one refetch: versions are stored once)."""
        with self.engine.begin() as conn:
            self._log_partition(conn, dataset, ts_code, rows, run_id)

    def adopt_partitions(self, dataset: TushareDataset, keys: Sequence[str], run_id: str) -> None:
        """Credit partitions an unfinished run committed to the run that resumed it, rows untouched: if
        that run succeeds, asking for them again is a refresh, no longer a resume."""
        log = partition_sync_log.c
        with self.engine.begin() as conn:
            for chunk_start in range(0, len(keys), 500):
                chunk = list(keys[chunk_start : chunk_start + 500])
                conn.execute(
                    partition_sync_log.update()
                    .where(log.dataset == dataset.api_name, log.partition_key.in_(chunk))
                    .values(run_id=run_id)
                )

    def count_rows(self, dataset: TushareDataset) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(TABLES[dataset.api_name])).scalar_one()
