"""Dividends and share distributions, partitioned by stock batch: one call per stock for its whole
history (fewer calls than one per announcement day), each stock's rows replaced atomically."""

import dagster as dg

from stock_pipeline import sync_reference
from stock_pipeline.datasets import DIVIDEND, STOCK_BASIC
from stock_pipeline.defs import checks
from stock_pipeline.defs.financials.assets import FINANCIALS_GROUP
from stock_pipeline.defs.financials.partitions import batch_of, stock_batches
from stock_pipeline.defs.shared import KINDS, call_metadata, failing_clearly, partition_keys
from stock_pipeline.resources import TushareResource, WarehouseResource


@dg.asset(
    key=DIVIDEND.api_name,
    group_name=FINANCIALS_GROUP,
    kinds=KINDS,
    description=DIVIDEND.description,
    partitions_def=stock_batches,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[STOCK_BASIC.api_name],
    pool=DIVIDEND.api_name,
    check_specs=[checks.upstream_fields_spec(DIVIDEND)],
    metadata={"row_cap": DIVIDEND.row_cap},
)
def dividend(
    context: dg.AssetExecutionContext, tushare: TushareResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    batches = set(partition_keys(context))
    client, store = tushare.client(warehouse), warehouse.open()
    stocks = [code for code in store.stock_codes() if batch_of(code) in batches]
    if not stocks and not store.stock_codes():
        raise dg.Failure("stock_basic is empty: materialize it first", allow_retries=False)
    with failing_clearly(tushare):
        report = sync_reference.sync_per_stock(client, store, DIVIDEND, stocks, log=context.log)
    metadata = {
        "stocks": len(stocks),
        "stocks_with_events": sum(1 for rows in report.rows_by_part.values() if rows),
        "stocks_failed": len(report.failed),
        "rows": report.rows,
        **checks.drift_metadata(report.drift.missing, report.drift.extra),
        **call_metadata(client, report.elapsed_seconds),
    }
    if report.failed:
        listed = ", ".join(f"{code}: {error}" for code, error in sorted(report.failed.items())[:10])
        raise dg.Failure(
            description=f"{len(report.failed)} of {len(stocks)} stocks failed (the others were stored): {listed}",
            metadata=metadata,
            allow_retries=False,
        )
    return dg.MaterializeResult(
        metadata=metadata, check_results=[checks.upstream_fields_result(report.drift.missing, report.drift.extra)]
    )
