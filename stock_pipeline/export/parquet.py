"""One Parquet dataset per warehouse table, for DuckDB, pandas, Polars or Spark.

    DIR/daily/year=2024/part-0.parquet       tables with a trade_date, hive-partitioned by its year
    DIR/stock_basic/part-0.parquet           the others, one file

    duckdb.sql("SELECT * FROM read_parquet('DIR/daily/**/*.parquet', hive_partitioning=true)")
    pandas.read_parquet("DIR/daily")         # adds the `year` partition column

Columns are the table's, typed from the dataset declarations: dates as `date32`, numbers as `float64`,
integers as `int64`, text as `string`, timestamps as UTC `timestamp[us]`; rows ordered by the table's key
(or all columns, for keyless tables). The bookkeeping tables (sync log, failure ledger, call budget) are
not exported. Like the qlib export, it refuses to run while a stored trading date fails its checks
(`quality.trade_date_table_problems`). Each run writes a new folder beside DIR and swaps it in: DIR is
the previous export or the new one, never half of one.
"""

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from stock_pipeline.datasets import ALL_DATASETS, TushareDataset
from stock_pipeline.export import quality
from stock_pipeline.export.common import (
    ExportError,
    folder_size,
    open_warehouse,
    read_manifest,
    replacing_folder,
    write_manifest,
)
from stock_pipeline.warehouse import TABLES, Warehouse

KIND = "parquet"
PARTITION_COLUMN = "trade_date"
ROWS_PER_BATCH = 100_000
ARROW_TYPES = {
    "str": pa.string(),
    "date": pa.date32(),
    "int": pa.int64(),
    "float": pa.float64(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}


@dataclass
class ParquetExportReport:
    out: Path
    rows: dict[str, int] = field(default_factory=dict)
    files: int = 0
    size_bytes: int = 0
    elapsed_seconds: float = 0.0

    @property
    def empty_tables(self) -> list[str]:
        return [name for name, rows in self.rows.items() if not rows]

    def summary(self) -> str:
        written = sum(1 for rows in self.rows.values() if rows)
        empty = f"; empty, not written: {', '.join(self.empty_tables)}" if self.empty_tables else ""
        return (
            f"parquet export {self.out}: {written} tables, {sum(self.rows.values())} rows, {self.files} files, "
            f"{self.size_bytes / 1e6:.1f} MB in {self.elapsed_seconds:.1f} s{empty}"
        )


def is_partitioned(dataset: TushareDataset) -> bool:
    return PARTITION_COLUMN in dataset.fields


def arrow_schema(dataset: TushareDataset) -> pa.Schema:
    return pa.schema([pa.field(column.name, ARROW_TYPES[column.kind]) for column in dataset.stored_columns])


def export_parquet(out: Path | str, db_url: str | None = None) -> ParquetExportReport:
    """Replace the folder `out` with every dataset table of the warehouse. Raises ExportError, having
    changed nothing, on a bad database or a warehouse without data."""
    started = time.monotonic()
    out = Path(out)
    read_manifest(out, KIND)
    warehouse = open_warehouse(db_url)
    try:
        present = _tables_present(warehouse)
        quality.refuse_if_any(quality.trade_date_table_problems(warehouse))
        report = ParquetExportReport(out=out)
        with replacing_folder(out) as staging:
            for dataset in ALL_DATASETS:
                if dataset.api_name in present:
                    report.rows[dataset.api_name] = _export_table(warehouse, dataset, staging / dataset.api_name)
            if not any(report.rows.values()):
                raise ExportError(f"the warehouse {_shown(warehouse)} holds no rows: sync it first")
            write_manifest(staging, KIND, rows=report.rows)
    finally:
        warehouse.dispose()
    report.size_bytes, files = folder_size(out)
    report.files = files - 1  # the manifest
    report.elapsed_seconds = round(time.monotonic() - started, 2)
    return report


def _shown(warehouse: Warehouse) -> str:
    return warehouse.engine.url.render_as_string(hide_password=True)


def _tables_present(warehouse: Warehouse) -> set[str]:
    with warehouse.engine.connect() as conn:
        return set(sa.inspect(conn).get_table_names())


def _export_table(warehouse: Warehouse, dataset: TushareDataset, folder: Path) -> int:
    table = TABLES[dataset.api_name]
    order = [table.c[name] for name in (dataset.key or dataset.fields)]
    query = sa.select(*(table.c[name] for name in dataset.stored_fields)).order_by(*order)
    if not is_partitioned(dataset):
        return _write_file(warehouse, dataset, query, folder / "part-0.parquet")
    day = table.c[PARTITION_COLUMN]
    with warehouse.engine.connect() as conn:
        first, last = conn.execute(sa.select(sa.func.min(day), sa.func.max(day))).one()
    if first is None:
        return 0
    rows = 0
    for year in range(first.year, last.year + 1):
        in_year = query.where(day >= date(year, 1, 1), day < date(year + 1, 1, 1))
        rows += _write_file(warehouse, dataset, in_year, folder / f"year={year}" / "part-0.parquet")
    return rows


def _write_file(warehouse: Warehouse, dataset: TushareDataset, query: sa.Select, path: Path) -> int:
    """Stream the query's rows into one Parquet file (none when there are no rows)."""
    schema = arrow_schema(dataset)
    rows, writer = 0, None
    try:
        for batch in _record_batches(warehouse, query, schema):
            if writer is None:
                path.parent.mkdir(parents=True, exist_ok=True)
                writer = pq.ParquetWriter(path, schema, compression="zstd")
            writer.write_batch(batch)
            rows += batch.num_rows
    finally:
        if writer is not None:
            writer.close()
    return rows


def _record_batches(warehouse: Warehouse, query: sa.Select, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    with warehouse.engine.connect().execution_options(stream_results=True) as conn:
        result = conn.execute(query)
        while rows := result.fetchmany(ROWS_PER_BATCH):
            columns = list(zip(*rows))
            yield pa.record_batch(
                [pa.array(values, type=column.type) for values, column in zip(columns, schema, strict=True)],
                schema=schema,
            )
