"""Sensors: statements of new disclosures, retries of failed stocks, gap compensation, failure alerts."""

import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import requests

from stock_pipeline.datasets import STATEMENT_DATASETS
from stock_pipeline.jobs import MARKET_KEYS, STATEMENT_KEYS, financial_statements_job, market_data_job
from stock_pipeline.partitions import (
    RANGE_END_TAG,
    RANGE_START_TAG,
    batch_of,
    last_published_trading_days,
    stock_batches,
    trading_days,
)
from stock_pipeline.resources import SyncPolicyResource, WarehouseResource
from stock_pipeline.schedules import SHANGHAI
from stock_pipeline.warehouse import FAILING

# Disclosures this recent are compared against the cursor; older ones count as handled.
DISCLOSURE_LOOKBACK_DAYS = 14
TRIGGER_TAG = "stock_pipeline/trigger"
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def _digest(values: Iterable[str]) -> str:
    return hashlib.sha1("\n".join(sorted(values)).encode()).hexdigest()[:12]


def _stocks_config(api_names: Iterable[str], stocks: list[str]) -> dict:
    return {"ops": {api_name: {"config": {"stocks": stocks}} for api_name in api_names}}


def _due(attempts: int, last_requested: float, backoff_seconds: float, now: float) -> bool:
    """Whether a thing requested `attempts` times, last at `last_requested`, may be asked for again."""
    return attempts == 0 or now >= last_requested + backoff_seconds * 2 ** (attempts - 1)


def _batches_in_flight(instance: dg.DagsterInstance, trigger: str) -> set[str]:
    records = instance.get_run_records(dg.RunsFilter(statuses=IN_FLIGHT, tags={TRIGGER_TAG: trigger}))
    return {record.dagster_run.tags.get("dagster/partition", "") for record in records}


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
            if batch_of(code) in busy or not _due(attempts, last, sync_policy.disclosure_backoff_seconds, now):
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
            run_key=f"disclosed:{batch}:{_digest(requested[batch])}",
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
                run_key=f"retry:{api_name}:{batch}:{_digest(attempts)}",
                partition_key=batch,
                asset_selection=[dg.AssetKey(api_name)],
                run_config=_stocks_config([api_name], codes),
                tags={TRIGGER_TAG: "retry"},
            )
        )
    if not requests:
        return dg.SkipReason("no failed stock is due for a retry")
    return requests


def _partitions_in_flight(instance: dg.DagsterInstance) -> set[str]:
    """Trading dates that a queued or running run already covers (single dates or ranges)."""
    covered: set[str] = set()
    for record in instance.get_run_records(dg.RunsFilter(statuses=IN_FLIGHT)):
        tags = record.dagster_run.tags
        if "dagster/partition" in tags:
            covered.add(tags["dagster/partition"])
        if RANGE_START_TAG in tags and RANGE_END_TAG in tags:
            covered.update(
                trading_days.get_partition_keys_in_range(
                    dg.PartitionKeyRange(tags[RANGE_START_TAG], tags[RANGE_END_TAG])
                )
            )
    return covered


@dg.sensor(
    job=market_data_job,
    minimum_interval_seconds=600,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Requests the datasets missing for each of the last N trading days, with backoff and a limit.",
)
def gap_compensation_sensor(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource, sync_policy: SyncPolicyResource
):
    """Requests, for each recent published trading date, only the datasets not materialized for it.

    Each date is asked for at most `max_gap_attempts` times (a run key per attempt), waiting
    `gap_backoff_seconds`, doubled each time, between attempts and never while a run covering it is
    queued or running. A date still missing after its last attempt is given up: reported once as an
    observation of each missing asset (partition, attempts) and a warning, and not requested again. The
    cursor keeps the attempts of the dates in the window.
    """
    state = json.loads(context.cursor) if context.cursor else {}
    attempts: dict[str, list[float]] = state.get("attempts", {})  # date -> [attempts, last requested]
    given_up: list[str] = state.get("given_up", [])
    now = time.time()
    with warehouse.connected() as store:
        calendar = store.calendar()
    recent = last_published_trading_days(calendar, datetime.now(SHANGHAI), sync_policy.max_compensation_days)
    recent = [day.isoformat() for day in recent if trading_days.has_partition_key(day.isoformat())]
    if not recent:
        return dg.SkipReason("no trading calendar in the warehouse yet: materialize trade_cal")
    oldest = recent[0]  # attempts of dates that left the window are forgotten
    done = {key: set(context.instance.get_materialized_partitions(key)) for key in MARKET_KEYS}
    if not any(done.values()):
        # An empty warehouse starts from the latest day; full history is an explicit backfill.
        recent = recent[-1:]
    busy = _partitions_in_flight(context.instance)
    run_requests, reports = [], []
    for day in recent:
        missing = [key for key in MARKET_KEYS if day not in done[key]]
        if not missing or day in busy or day in given_up:
            continue
        count, last = attempts.get(day, [0, 0.0])
        if not _due(int(count), last, sync_policy.gap_backoff_seconds, now):
            continue
        if count >= sync_policy.max_gap_attempts:
            given_up.append(day)
            context.log.warning(f"{day}: still missing {[key.path[0] for key in missing]} after {count} runs; given up")
            reports.extend(
                dg.AssetObservation(
                    asset_key=key,
                    partition=day,
                    description="Gap compensation gave this date up: materialize it by hand once the cause is fixed.",
                    metadata={"gap_given_up": day, "gap_attempts": int(count)},
                )
                for key in missing
            )
            continue
        attempts[day] = [int(count) + 1, now]
        run_requests.append(
            dg.RunRequest(
                run_key=f"gap:{day}:{int(count) + 1}",
                partition_key=day,
                asset_selection=missing,
                tags={TRIGGER_TAG: "gap"},
            )
        )
    cursor = json.dumps(
        {
            "attempts": {day: value for day, value in attempts.items() if day >= oldest},
            "given_up": [day for day in given_up if day >= oldest],
        },
        sort_keys=True,
    )
    if not run_requests and not reports:
        return dg.SensorResult(skip_reason="no missing trading dates due in the compensation window", cursor=cursor)
    return dg.SensorResult(run_requests=run_requests, asset_events=reports, cursor=cursor)


class AlertResource(dg.ConfigurableResource):
    """Where run failures are reported: the run-failure sensor's log, plus a webhook when configured."""

    webhook_url: str | None = None

    def send(self, message: dict) -> None:
        if self.webhook_url:
            requests.post(self.webhook_url, json=message, timeout=10).raise_for_status()


@dg.run_failure_sensor(
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="The alerting hook: logs every failed run and posts it to AlertResource's webhook if set.",
)
def run_failure_alert_sensor(context: dg.RunFailureSensorContext, alerts: AlertResource):
    run = context.dagster_run
    message = {
        "run_id": run.run_id,
        "job": run.job_name,
        "partition": run.tags.get("dagster/partition")
        or "...".join(filter(None, (run.tags.get(RANGE_START_TAG), run.tags.get(RANGE_END_TAG)))),
        "error": context.failure_event.message,
    }
    context.log.error(f"Run failed: {json.dumps(message, ensure_ascii=False)}")
    alerts.send(message)
