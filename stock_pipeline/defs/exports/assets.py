"""The exports as assets downstream of the tables they read: `qlib_export` (daily bars and adjustment
factors as a qlib folder) and `parquet_export` (every table as Parquet).

Gate: each export checks every date it reads before writing anything (unique keys, rows against the stocks
expected to trade, OHLC sanity, a factor for every bar; see `stock_pipeline.export.quality`) and fails its
materialization naming the bad dates. A blocking asset check would run after the files were written; a
check in front of the write is what keeps a bad day out of a backtest.

Automation: once each weekday, after the daily sync's cron tick, as soon as `daily` and `adj_factor` have
both been updated since that tick and neither is still being written. Not `eager()`: an unpartitioned
asset downstream of trading-date partitions is "missing a dependency" while any partition since 1990 is
unsynced, so eager would never fire, and during a backfill, where each date materializes as it commits,
it would ask for an export per committed date.
"""

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from stock_pipeline import settings
from stock_pipeline.datasets import ADJ_FACTOR, ALL_DATASETS, DAILY, STOCK_BASIC, TRADE_CAL
from stock_pipeline.defs.market.schedules import DAILY_SYNC_CRON
from stock_pipeline.export.common import ExportError
from stock_pipeline.resources import WarehouseResource

if TYPE_CHECKING:
    from stock_pipeline.export import ParquetExportReport, QlibExportReport

EXPORTS_GROUP = "exports"
# The tables whose update since the daily sync's tick starts an export: the ones every backtest reads.
TRIGGERS = dg.AssetSelection.assets(DAILY.api_name, ADJ_FACTOR.api_name)


def after_daily_sync() -> dg.AutomationCondition:
    return (
        dg.AutomationCondition.cron_tick_passed(DAILY_SYNC_CRON, settings.TIMEZONE).since_last_handled()
        & dg.AutomationCondition.all_deps_updated_since_cron(DAILY_SYNC_CRON, settings.TIMEZONE).allow(TRIGGERS)
        & ~dg.AutomationCondition.any_deps_in_progress().allow(TRIGGERS)
    ).with_label(f"after the daily sync ({DAILY_SYNC_CRON} {settings.TIMEZONE}) updated daily and adj_factor")


def default_folder(kind: str) -> Path:
    return settings.data_dir() / "exports" / kind


class QlibExportConfig(dg.Config):
    out: str | None = Field(default=None, description="The qlib folder; default: <data dir>/exports/qlib.")
    start: str | None = Field(default=None, description="First trading date, YYYY-MM-DD; default: the first synced.")
    end: str | None = Field(default=None, description="Last trading date, YYYY-MM-DD; default: the last synced.")


class ParquetExportConfig(dg.Config):
    out: str | None = Field(default=None, description="The Parquet folder; default: <data dir>/exports/parquet.")


def _day(value: str | None, name: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise dg.Failure(f"config {name}={value!r} is not a date like 2024-07-01", allow_retries=False) from None


@dg.asset(
    key="qlib_export",
    group_name=EXPORTS_GROUP,
    kinds={"qlib"},
    deps=[DAILY.api_name, ADJ_FACTOR.api_name, STOCK_BASIC.api_name, TRADE_CAL.api_name],
    automation_condition=after_daily_sync(),
    description="A qlib data folder (provider_uri): hfq open/high/low/close, volume, amount, vwap, change and "
    "factor per stock, appended to as dates are synced. See stock_pipeline/export/qlib.py.",
)
def qlib_export(
    context: dg.AssetExecutionContext, config: QlibExportConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    out = Path(config.out) if config.out else default_folder("qlib")
    start, end = _day(config.start, "start"), _day(config.end, "end")
    try:
        # numpy and pyarrow load in the export's own step only, never in the sync processes.
        from stock_pipeline.export.qlib import export_qlib

        report = export_qlib(out, warehouse.resolved_url(), start, end, log=context.log)
    except ExportError as error:
        raise dg.Failure(description=f"qlib export: {error}", allow_retries=False) from None
    context.log.info(report.summary())
    return dg.MaterializeResult(metadata=qlib_metadata(report))


@dg.asset(
    key="parquet_export",
    group_name=EXPORTS_GROUP,
    kinds={"parquet"},
    deps=[dataset.api_name for dataset in ALL_DATASETS],
    automation_condition=after_daily_sync(),
    description="Every warehouse table as a Parquet dataset (trading-date tables partitioned by year), replaced "
    "whole on each run. See stock_pipeline/export/parquet.py.",
)
def parquet_export(
    context: dg.AssetExecutionContext, config: ParquetExportConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    out = Path(config.out) if config.out else default_folder("parquet")
    try:
        from stock_pipeline.export.parquet import export_parquet

        report = export_parquet(out, warehouse.resolved_url())
    except ExportError as error:
        raise dg.Failure(description=f"parquet export: {error}", allow_retries=False) from None
    context.log.info(report.summary())
    return dg.MaterializeResult(metadata=parquet_metadata(report))


def qlib_metadata(report: "QlibExportReport") -> dict[str, object]:
    return {
        "path": dg.MetadataValue.path(str(report.out)),
        "size_bytes": report.size_bytes,
        "stocks": report.stocks,
        "instruments": report.instruments,
        "dates": report.dates,
        "first_date": str(report.first_date),
        "last_date": str(report.last_date),
        "dates_added": report.dates_added,
        "files_created": report.files["created"],
        "files_appended": report.files["appended"],
        "files_unchanged": report.files["unchanged"],
        "files_rewritten": report.files["rewritten"],
        "stocks_rewritten": ", ".join(report.stocks_rewritten),
        "rebuilt": report.rebuilt or "",
        "elapsed_seconds": report.elapsed_seconds,
    }


def parquet_metadata(report: "ParquetExportReport") -> dict[str, object]:
    return {
        "path": dg.MetadataValue.path(str(report.out)),
        "size_bytes": report.size_bytes,
        "files": report.files,
        "rows": sum(report.rows.values()),
        "rows_per_table": dg.MetadataValue.json(report.rows),
        "empty_tables": ", ".join(report.empty_tables),
        "elapsed_seconds": report.elapsed_seconds,
    }


exports_defs = dg.Definitions(assets=[qlib_export, parquet_export])
