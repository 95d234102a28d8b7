"""Market-data assets: reference data (calendar, stock list) and one asset per trading-date dataset."""

import contextlib
import functools
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime
from zoneinfo import ZoneInfo

import dagster as dg
from pydantic import Field

from stock_pipeline import checks, settings, sync
from stock_pipeline.datasets import STOCK_BASIC, TRADE_CAL, TRADE_DATE_DATASETS, TushareDataset
from stock_pipeline.partitions import trading_days
from stock_pipeline.resources import TushareResource, WarehouseResource
from stock_pipeline.tushare.client import TushareClient
from stock_pipeline.tushare.errors import TushareError, TushareUnavailableError

REFERENCE_GROUP = "reference_data"
MARKET_GROUP = "market_data"
KINDS = {"tushare", "sql"}


@contextlib.contextmanager
def failing_clearly(tushare: TushareResource):
    """Retry the step when the service stayed unavailable through the client's own retries; turn
    every other sync error into a failure without retries (retrying cannot help)."""
    try:
        yield
    except TushareUnavailableError as error:
        if tushare.step_retries <= 0:
            raise dg.Failure(description=str(error), allow_retries=False) from error
        raise dg.RetryRequested(
            max_retries=tushare.step_retries, seconds_to_wait=tushare.step_retry_delay_seconds
        ) from error
    except (TushareError, sync.CalendarGapError) as error:
        raise dg.Failure(description=str(error), allow_retries=False) from error


def partition_keys(context: dg.AssetExecutionContext) -> list[str]:
    """The run's partition keys; an empty range (start after end) is an input error, not a no-op."""
    keys = context.partition_keys
    if not keys:
        key_range = context.partition_key_range
        raise dg.Failure(
            f"The partition range {key_range.start}...{key_range.end} is empty: its start must not be after its end.",
            allow_retries=False,
        )
    return keys


def call_metadata(client: TushareClient, elapsed: float) -> dict[str, object]:
    stats = client.stats
    return {
        "api_calls": stats.total_calls(),
        "pages": sum(stats.pages.values()),
        "retries": sum(stats.retries.values()),
        "budget_wait_seconds": round(stats.budget_wait_seconds, 2),
        "elapsed_seconds": round(elapsed, 2),
        "source": "SYNTHETIC (bundled offline server)" if stats.synthetic else "Tushare Pro",
    }


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


class TradeDateSyncConfig(dg.Config):
    force: bool = Field(
        default=False,
        description="Fetch every open date again, even those a failed, cancelled or crashed run already "
        "committed (by default a new run resumes after them).",
    )


def unfinished_runs(instance: dg.DagsterInstance) -> Callable[[str], bool]:
    """Whether a run did not finish (failed, cancelled, crashed or still going): its commits are resumed
    after, not refreshed. A run the instance does not know counts as finished: its dates are refetched."""

    @functools.cache
    def is_unfinished(run_id: str) -> bool:
        run = instance.get_run_by_id(run_id)
        return run is not None and run.status != dg.DagsterRunStatus.SUCCESS

    return is_unfinished


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
        check_specs=checks.check_specs(dataset),
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

        def committed(day: date, rows: int, calls: int, expected: int) -> None:
            # Marked done as it commits, with its own figures: Dagster's partition status follows the
            # warehouse through a long backfill, and a crash at 90 % shows 90 % done.
            coverage = {"expected_rows": expected, "coverage": round(rows / expected, 4)} if expected else {}
            materialize(day, {"rows": rows, "api_calls": calls, **coverage})

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
        yield from checks.evaluate(store, dataset, written)

    return _asset


trade_date_assets = [build_trade_date_asset(dataset) for dataset in TRADE_DATE_DATASETS]
