"""Financial statements, partitioned by stock batch, every version kept; and the disclosure calendar."""

import re
import time
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
from pydantic import Field

from stock_pipeline import settings, sync
from stock_pipeline.datasets import DISCLOSURE_DATE, STATEMENT_DATASETS, STOCK_BASIC, TushareDataset
from stock_pipeline.defs import checks
from stock_pipeline.defs.financials.partitions import batch_of, stock_batches
from stock_pipeline.defs.shared import KINDS, call_metadata, failing_clearly, partition_keys, unfinished_runs
from stock_pipeline.resources import SyncPolicyResource, TushareResource, WarehouseResource
from stock_pipeline.warehouse import Warehouse

FINANCIALS_GROUP = "financials"
UNRESOLVED_FAILURES = "unresolved_failures"
TS_CODE = re.compile(r"\d{6}\.(SH|SZ|BJ)")
# Report periods whose disclosures can still arrive: annual reports come up to four months late.
OPEN_PERIOD_DAYS = 400


class StatementSyncConfig(dg.Config):
    stocks: list[str] = Field(
        default_factory=list, description="Only these stocks of the selected batches (sensors set it); empty = all."
    )
    use_vip: bool = Field(
        default=False, description="Use the whole-market *_vip APIs, one call per report period (5000 points)."
    )
    vip_periods: list[str] = Field(
        default_factory=list, description="Report periods (YYYYMMDD) for the VIP path; empty = all since the start."
    )
    force: bool = Field(
        default=False,
        description="Fetch every stock again, even those a failed, cancelled or crashed run already stored (by "
        "default a new run resumes after them). Named `stocks` are always fetched.",
    )


class DisclosureConfig(dg.Config):
    periods: list[str] = Field(
        default_factory=list, description="Report periods (YYYYMMDD) to refresh; empty = the open ones."
    )


def _today() -> date:
    return datetime.now(ZoneInfo(settings.TIMEZONE)).date()


def _failure_check(store: Warehouse, dataset: TushareDataset, batches: set[str]) -> dg.AssetCheckResult:
    failures = [row for row in store.failures(dataset) if row["partition_key"] in batches]
    listing = ", ".join(f"{row['ts_code']} ({row['status']}, {row['attempts']} attempts)" for row in failures[:30])
    return dg.AssetCheckResult(
        check_name=UNRESOLVED_FAILURES,
        passed=not failures,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "unresolved": len(failures),
            "stocks": listing,
            "given_up": sum(row["status"] == "given_up" for row in failures),
        },
    )


def build_statement_asset(dataset: TushareDataset) -> dg.AssetsDefinition:
    @dg.asset(
        key=dataset.api_name,
        group_name=FINANCIALS_GROUP,
        kinds=KINDS,
        description=dataset.description,
        partitions_def=stock_batches,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[STOCK_BASIC.api_name],
        check_specs=[
            checks.upstream_fields_spec(dataset),
            dg.AssetCheckSpec(
                UNRESOLVED_FAILURES,
                asset=dataset.api_name,
                description="Stocks of these batches whose last fetch failed (retried by a sensor, or given up).",
            ),
        ],
        pool=dataset.api_name,
        metadata={
            "row_cap": dataset.row_cap,
            "vip_api": dataset.vip_api_name,
            "versions_key": "version_hash",
            "report_key": ", ".join(dataset.report_key),
        },
    )
    def _asset(
        context: dg.AssetExecutionContext,
        config: StatementSyncConfig,
        tushare: TushareResource,
        warehouse: WarehouseResource,
        sync_policy: SyncPolicyResource,
    ) -> dg.MaterializeResult:
        batches = set(partition_keys(context))
        client, store = tushare.client(warehouse), warehouse.open()
        if config.stocks:
            malformed = [code for code in config.stocks if not TS_CODE.fullmatch(code)]
            if malformed:
                raise dg.Failure(
                    f"{malformed} are not Tushare stock codes (like 000001.SZ, 600000.SH, 920001.BJ)",
                    allow_retries=False,
                )
            # A new listing may be disclosed before stock_basic knows it: disclosure_date vouches for it.
            unknown = set(config.stocks) - store.known_stock_codes()
            if unknown:
                raise dg.Failure(
                    f"unknown stock codes {sorted(unknown)}: in neither stock_basic nor "
                    "disclosure_date (materialize stock_basic if they are new listings)",
                    allow_retries=False,
                )
            stocks = sorted({code for code in config.stocks if batch_of(code) in batches})
        else:
            stocks = [code for code in store.stock_codes() if batch_of(code) in batches]
            if not stocks and not store.stock_codes():
                raise dg.Failure("stock_basic is empty: materialize it first", allow_retries=False)
        start = date.fromisoformat(sync_policy.finance_start_date)
        started = time.monotonic()
        with failing_clearly(tushare):
            if config.use_vip:
                periods = [datetime.strptime(p, "%Y%m%d").date() for p in config.vip_periods] or (
                    sync.quarter_ends_between(start, _today())
                )
                report = sync.sync_statements_vip(
                    client,
                    store,
                    dataset,
                    stocks,
                    periods,
                    sync_policy.statement_report_types,
                    partition_of=batch_of,
                    # Named stocks are part of a batch: their periods are logged under no run, never resumed.
                    run_id=None if config.stocks else context.run.run_id,
                    is_unfinished=(lambda run_id: False)
                    if config.force or config.stocks
                    else unfinished_runs(context.instance),
                    log=context.log,
                )
            else:
                report = sync.sync_statements(
                    client,
                    store,
                    dataset,
                    stocks,
                    start,
                    partition_of=batch_of,
                    max_retries=sync_policy.max_retries_per_stock,
                    report_types=sync_policy.statement_report_types,
                    delisted_before_start=store.delisted_before(start),
                    run_id=context.run.run_id,
                    # Stocks a sensor names are due for a fetch: never skipped as resumed.
                    is_unfinished=(lambda run_id: False)
                    if config.force or config.stocks
                    else unfinished_runs(context.instance),
                    log=context.log,
                )
        metadata = {
            "stocks": report.stocks,
            "stocks_failed": len(report.failed),
            "stocks_resumed": report.stocks_resumed,
            "periods_resumed": report.periods_resumed,
            "rows_fetched": report.rows_fetched,
            "new_versions": report.new_versions,
            "path": "vip (per period)" if config.use_vip else "per stock",
            "report_types": ", ".join(sync_policy.statement_report_types),
            **checks.drift_metadata(report.drift.missing, report.drift.extra),
            **call_metadata(client, time.monotonic() - started),
        }
        if len(report.failed) > sync_policy.max_failed_share * report.stocks:
            failed = ", ".join(sorted(report.failed)[:20])
            raise dg.Failure(
                description=f"{len(report.failed)} of {report.stocks} stocks failed (more than "
                f"{sync_policy.max_failed_share:.0%}): {failed}. The others were stored; the failed ones are in "
                "sync_failure and are retried by statement_retry_sensor.",
                metadata=metadata,
                allow_retries=False,
            )
        return dg.MaterializeResult(
            metadata=metadata,
            check_results=[
                checks.upstream_fields_result(report.drift.missing, report.drift.extra),
                _failure_check(store, dataset, batches),
            ],
        )

    return _asset


statement_assets = [build_statement_asset(dataset) for dataset in STATEMENT_DATASETS]


@dg.asset(
    key=DISCLOSURE_DATE.api_name,
    group_name=FINANCIALS_GROUP,
    kinds=KINDS,
    description=DISCLOSURE_DATE.description,
    pool=DISCLOSURE_DATE.api_name,
)
def disclosure_date(
    config: DisclosureConfig, tushare: TushareResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    today = _today()
    periods = [datetime.strptime(period, "%Y%m%d").date() for period in config.periods] or (
        sync.quarter_ends_between(today - timedelta(days=OPEN_PERIOD_DAYS), today)
    )
    client, store = tushare.client(warehouse), warehouse.open()
    with failing_clearly(tushare):
        report = sync.sync_disclosure_dates(client, store, periods)
    return dg.MaterializeResult(
        metadata={
            "rows": report.rows,
            "periods": ", ".join(p.strftime("%Y%m%d") for p in periods),
            **call_metadata(client, report.elapsed_seconds),
        }
    )
