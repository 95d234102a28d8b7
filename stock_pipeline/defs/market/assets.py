"""Market data: one asset per trading-date dataset (`TRADE_DATE_DATASETS`), each partitioned by trading
date and materialized date by date as it commits."""

import time
from collections.abc import Iterator
from datetime import date

import dagster as dg
from pydantic import Field

from stock_pipeline import sync
from stock_pipeline.datasets import STOCK_BASIC, TRADE_CAL, TRADE_DATE_DATASETS, TushareDataset
from stock_pipeline.defs import checks
from stock_pipeline.defs.market.checks import check_specs, evaluate
from stock_pipeline.defs.market.partitions import trading_days
from stock_pipeline.defs.shared import KINDS, call_metadata, failing_clearly, partition_keys, unfinished_runs
from stock_pipeline.resources import TushareResource, WarehouseResource

MARKET_GROUP = "market_data"


class TradeDateSyncConfig(dg.Config):
    force: bool = Field(
        default=False,
        description="Fetch every open date again, even those a failed, cancelled or crashed run already "
        "committed (by default a new run resumes after them).",
    )


def build_trade_date_asset(dataset: TushareDataset) -> dg.AssetsDefinition:
    @dg.asset(
        key=dataset.api_name,
        group_name=MARKET_GROUP,
        kinds=KINDS,
        description=dataset.description,
        partitions_def=trading_days,
        # Years of dates in one run: a run per date costs seconds of overhead each.
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[TRADE_CAL.api_name, STOCK_BASIC.api_name],
        check_specs=check_specs(dataset),
        pool=dataset.api_name,
        # No output at the end of the step: each date is materialized as it commits (below).
        output_required=False,
        metadata={
            "row_cap": dataset.row_cap,
            "published_at": f"{dataset.published_at:%H:%M} Asia/Shanghai",
            "history_start": str(dataset.history_start),
            "primary_key": ", ".join(dataset.key),
        },
    )
    def _asset(
        context: dg.AssetExecutionContext,
        config: TradeDateSyncConfig,
        tushare: TushareResource,
        warehouse: WarehouseResource,
    ) -> Iterator[dg.AssetCheckResult]:
        days = [date.fromisoformat(key) for key in partition_keys(context)]
        client, store = tushare.client(warehouse), warehouse.open()
        started = time.monotonic()

        def materialize(day: date, metadata: dict[str, object]) -> None:
            context.log_event(
                dg.AssetMaterialization(asset_key=context.asset_key, partition=day.isoformat(), metadata=metadata)
            )

        committed_days: list[date] = []

        def committed(day: date, rows: int, calls: int, expected: int) -> None:
            # Marked done as it commits, with its own figures: Dagster's partition status follows the
            # warehouse through a long backfill, and a crash at 90 % shows 90 % done.
            committed_days.append(day)
            coverage = {"expected_rows": expected, "coverage": round(rows / expected, 4)} if expected else {}
            materialize(day, {"rows": rows, "api_calls": calls, **coverage})

        try:
            with failing_clearly(tushare):
                report = sync.sync_trade_dates(
                    client,
                    store,
                    dataset,
                    days,
                    run_id=context.run.run_id,
                    is_unfinished=(lambda run_id: False) if config.force else unfinished_runs(context.instance),
                    on_commit=committed,
                    log=context.log,
                )
        except (dg.Failure, dg.RetryRequested):
            # The dates committed before the failure are stored and shown done: check them now, so the
            # checks report on that data rather than reading "execution failed" without having run.
            if committed_days:
                yield from evaluate(store, dataset, sorted(committed_days))
            raise
        for day in report.dates_closed:
            materialize(day, {"rows": 0, "closed": True})
        for day in report.dates_before_history:
            materialize(day, {"rows": 0, "before_history": True})
        if report.dates_already_synced:
            shown = context.instance.get_materialized_partitions(context.asset_key)
            for day in report.dates_already_synced:
                if day.isoformat() not in shown:  # committed, but its run died before saying so
                    materialize(day, {"resumed": True})
        rows_per_date = report.rows_by_date.values()
        open_dates = len(report.dates_written)
        context.log_event(
            dg.AssetObservation(
                asset_key=context.asset_key,
                description="This run's totals (each date's own figures are on its materialization).",
                metadata={
                    "rows": report.rows,
                    "dates_requested": len(days),
                    "dates_written": open_dates,
                    "dates_closed": len(report.dates_closed),
                    "dates_before_history": len(report.dates_before_history),
                    "dates_resumed": len(report.dates_already_synced),
                    "first_date": str(days[0]),
                    "last_date": str(days[-1]),
                    "min_rows_per_date": min(rows_per_date, default=0),
                    "max_rows_per_date": max(rows_per_date, default=0),
                    "api_calls_per_date": round(client.stats.calls[dataset.api_name] / open_dates, 3)
                    if open_dates
                    else 0,
                    **checks.drift_metadata(report.drift.missing, report.drift.extra),
                    **call_metadata(client, time.monotonic() - started),
                },
            )
        )
        written = sorted(report.dates_written + report.dates_already_synced)
        yield checks.upstream_fields_result(report.drift.missing, report.drift.extra)
        yield from evaluate(store, dataset, written)

    return _asset


trade_date_assets = [build_trade_date_asset(dataset) for dataset in TRADE_DATE_DATASETS]
