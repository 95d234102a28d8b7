"""Statement automation: fetch newly disclosed reports until they are served, and retry failed stocks."""

import json
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from stock_pipeline.datasets import STATEMENT_DATASETS
from stock_pipeline.defs.financials.jobs import STATEMENT_KEYS, financial_statements_job
from stock_pipeline.defs.financials.partitions import batch_of, stock_batches
from stock_pipeline.defs.shared import TRIGGER_TAG, digest, due, runs_in_flight
from stock_pipeline.resources import SyncPolicyResource, WarehouseResource
from stock_pipeline.warehouse import FAILING

# Disclosures this recent are compared against the cursor; older ones count as handled.
DISCLOSURE_LOOKBACK_DAYS = 14


def _batches_in_flight(instance: dg.DagsterInstance, trigger: str) -> set[str]:
    return {run.tags.get("dagster/partition", "") for run in runs_in_flight(instance, {TRIGGER_TAG: trigger})}


@dg.sensor(
    job=financial_statements_job,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Fetches the statements of stocks newly disclosed in `disclosure_date` until a version of "
    "each disclosed report is stored, batch by batch.",
)
def statement_disclosure_sensor(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource, sync_policy: SyncPolicyResource
):
    """Requests runs for disclosed reports (stock and period) of which a statement has no version stored.

    A disclosure stays pending until every statement holds a version of that report: statements are
    served hours after their disclosure, so a run may find nothing yet. A pending report is asked for
    again with exponential backoff (never while a disclosure run of its batch is queued or running);
    after `max_disclosure_requests` requests, each statement still lacking it gets a `sync_failure` row,
    which `statement_retry_sensor` takes over. The cursor keeps the pending reports and, within a
    look-back window that ends at the newest disclosure seen, the handled ones, so a re-evaluated tick
    requests nothing twice and disclosures that arrive late are still caught. The first evaluation
    starts from the window before the newest disclosure: full history is a backfill.
    """
    state = json.loads(context.cursor) if context.cursor else {}
    handled: dict[str, str] = state.get("seen", {})
    pending: dict[str, list] = state.get("pending", {})  # key -> [requests, last requested, disclosed on]
    now = time.time()
    with warehouse.connected() as store:
        newest = store.latest_disclosure()
        if newest is None:
            return dg.SkipReason("disclosure_date is empty: materialize it first")
        watermark = max([newest, *map(date.fromisoformat, handled.values())]) - timedelta(days=DISCLOSURE_LOOKBACK_DAYS)
        disclosed = {
            f"{code}|{end:%Y%m%d}": actual.isoformat() for code, end, actual in store.disclosures_since(watermark)
        }
        open_keys = sorted({key for key in disclosed if key not in handled} | set(pending))
        codes = {key.split("|")[0] for key in open_keys}
        stored = {dataset.api_name: store.stored_reports(dataset, codes) for dataset in STATEMENT_DATASETS}
        busy = _batches_in_flight(context.instance, "disclosure")
        wanted: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))  # batch -> api -> stocks
        requested: dict[str, list[str]] = defaultdict(list)
        for key in open_keys:
            code, period = key.split("|")
            end = datetime.strptime(period, "%Y%m%d").date()
            lacking = [dataset for dataset in STATEMENT_DATASETS if (code, end) not in stored[dataset.api_name]]
            day = disclosed.get(key) or pending[key][2]
            if not lacking:
                handled[key] = day
                pending.pop(key, None)
                continue
            attempts, last, _ = pending.get(key, [0, 0.0, day])
            if batch_of(code) in busy or not due(attempts, last, sync_policy.disclosure_backoff_seconds, now):
                pending[key] = [attempts, last, day]
                continue
            if attempts >= sync_policy.max_disclosure_requests:
                for dataset in lacking:
                    store.record_failure(
                        dataset,
                        code,
                        batch_of(code),
                        f"report {period} disclosed on {day}, but no version of it was served after {attempts} "
                        "requests",
                        sync_policy.max_retries_per_stock,
                    )
                context.log.warning(f"{key}: disclosed, still not served after {attempts} requests; in sync_failure")
                handled[key] = day
                pending.pop(key, None)
                continue
            pending[key] = [attempts + 1, now, day]
            requested[batch_of(code)].append(f"{key}:{attempts + 1}")
            for dataset in lacking:
                wanted[batch_of(code)][dataset.api_name].add(code)
    run_requests = [
        dg.RunRequest(
            run_key=f"disclosed:{batch}:{digest(requested[batch])}",
            partition_key=batch,
            asset_selection=[dg.AssetKey(api_name) for api_name in sorted(by_api)],
            run_config={"ops": {api_name: {"config": {"stocks": sorted(codes)}} for api_name, codes in by_api.items()}},
            tags={TRIGGER_TAG: "disclosure"},
        )
        for batch, by_api in sorted(wanted.items())
    ]
    kept = {key: day for key, day in handled.items() if day >= watermark.isoformat()}
    cursor = json.dumps({"seen": kept, "pending": pending}, sort_keys=True)
    return dg.SensorResult(run_requests=run_requests, cursor=cursor)


@dg.sensor(
    minimum_interval_seconds=300,
    asset_selection=dg.AssetSelection.assets(*STATEMENT_KEYS),
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Requests failed stocks again with exponential backoff until the retry limit.",
)
def statement_retry_sensor(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource, sync_policy: SyncPolicyResource
):
    now = datetime.now(UTC)
    with warehouse.connected() as store:
        failing = store.failures(statuses=(FAILING,))
    due: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for failure in failing:
        last = failure["last_failed_at"]
        last = last if last.tzinfo else last.replace(tzinfo=UTC)
        wait = sync_policy.retry_backoff_seconds * 2 ** (failure["attempts"] - 1)
        if last + timedelta(seconds=wait) <= now:
            due[(failure["dataset"], failure["partition_key"])].append(failure)
    requests = []
    for (api_name, batch), failures in sorted(due.items()):
        if batch not in stock_batches.get_partition_keys():
            continue
        codes = sorted(failure["ts_code"] for failure in failures)
        attempts = [f"{failure['ts_code']}:{failure['attempts']}" for failure in failures]
        requests.append(
            dg.RunRequest(
                run_key=f"retry:{api_name}:{batch}:{digest(attempts)}",
                partition_key=batch,
                asset_selection=[dg.AssetKey(api_name)],
                run_config={"ops": {api_name: {"config": {"stocks": codes}}}},
                tags={TRIGGER_TAG: "retry"},
            )
        )
    if not requests:
        return dg.SkipReason("no failed stock is due for a retry")
    return requests
