"""Reference data: the trading calendar, the complete stock list, and the name history of every stock."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import dagster as dg

from stock_pipeline import settings, sync, sync_reference
from stock_pipeline.datasets import NAMECHANGE, STOCK_BASIC, TRADE_CAL, TushareDataset
from stock_pipeline.defs import checks
from stock_pipeline.defs.shared import KINDS, call_metadata, failing_clearly
from stock_pipeline.resources import TushareResource, WarehouseResource

REFERENCE_GROUP = "reference_data"


@dg.asset(
    key=TRADE_CAL.api_name,
    group_name=REFERENCE_GROUP,
    kinds=KINDS,
    description=TRADE_CAL.description,
    pool=TRADE_CAL.api_name,
    check_specs=[checks.upstream_fields_spec(TRADE_CAL)],
)
def trade_cal(tushare: TushareResource, warehouse: WarehouseResource) -> dg.MaterializeResult:
    today = datetime.now(ZoneInfo(settings.TIMEZONE)).date()
    start, end = date.fromisoformat(settings.start_date()), date(today.year + 1, 12, 31)
    client, store = tushare.client(warehouse), warehouse.open()
    with failing_clearly(tushare):
        report = sync.sync_trade_cal(client, store, start, end)
    return dg.MaterializeResult(
        metadata={
            "rows": report.rows,
            "first_date": str(start),
            "last_date": str(end),
            "exchanges": ", ".join(sync.CALENDAR_EXCHANGES),
            **checks.drift_metadata(report.drift.missing, report.drift.extra),
            **call_metadata(client, report.elapsed_seconds),
        },
        check_results=[checks.upstream_fields_result(report.drift.missing, report.drift.extra)],
    )


@dg.asset(
    key=STOCK_BASIC.api_name,
    group_name=REFERENCE_GROUP,
    kinds=KINDS,
    description=STOCK_BASIC.description,
    pool=STOCK_BASIC.api_name,
    check_specs=[checks.upstream_fields_spec(STOCK_BASIC)],
)
def stock_basic(tushare: TushareResource, warehouse: WarehouseResource) -> dg.MaterializeResult:
    client, store = tushare.client(warehouse), warehouse.open()
    with failing_clearly(tushare):
        report = sync.sync_stock_basic(client, store)
    return dg.MaterializeResult(
        metadata={
            "rows_upserted": report.rows,
            "rows_total": store.count_rows(STOCK_BASIC),
            "list_statuses": ", ".join(sync.LIST_STATUSES),
            **checks.drift_metadata(report.drift.missing, report.drift.extra),
            **call_metadata(client, report.elapsed_seconds),
        },
        check_results=[checks.upstream_fields_result(report.drift.missing, report.drift.extra)],
    )


def build_snapshot_asset(dataset: TushareDataset, group_name: str) -> dg.AssetsDefinition:
    """A dataset fetched whole in its declared calls (`snapshot_calls`) and replaced atomically."""

    @dg.asset(
        key=dataset.api_name,
        group_name=group_name,
        kinds=KINDS,
        description=dataset.description,
        pool=dataset.api_name,
        check_specs=[checks.upstream_fields_spec(dataset)],
        metadata={"row_cap": dataset.row_cap, "calls": ", ".join(map(str, dataset.snapshot_calls))},
    )
    def _asset(tushare: TushareResource, warehouse: WarehouseResource) -> dg.MaterializeResult:
        client, store = tushare.client(warehouse), warehouse.open()
        with failing_clearly(tushare):
            report = sync_reference.sync_snapshot(client, store, dataset)
        return dg.MaterializeResult(
            metadata={
                "rows": report.rows,
                "rows_per_call": ", ".join(f"{part}: {rows}" for part, rows in report.rows_by_part.items()),
                **checks.drift_metadata(report.drift.missing, report.drift.extra),
                **call_metadata(client, report.elapsed_seconds),
            },
            check_results=[checks.upstream_fields_result(report.drift.missing, report.drift.extra)],
        )

    return _asset


namechange = build_snapshot_asset(NAMECHANGE, REFERENCE_GROUP)
