"""Sensors: statements of new disclosures, retries of failed stocks, gap compensation, failure alerts."""

import hashlib
import json
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


def _digest(values: Iterable[str]) -> str:
    return hashlib.sha1("\n".join(sorted(values)).encode()).hexdigest()[:12]


def _stocks_config(api_names: Iterable[str], stocks: list[str]) -> dict:
    return {"ops": {api_name: {"config": {"stocks": stocks}} for api_name in api_names}}


@dg.sensor(
    job=financial_statements_job,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Fetches the statements of stocks newly disclosed in `disclosure_date`, batch by batch.",
)
def statement_disclosure_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
    """Requests runs for the stocks whose disclosures it has not seen yet.

    The cursor keeps the disclosures already requested within a look-back window that ends at the
    newest disclosure seen, so a re-evaluated tick requests nothing twice and disclosures that
    arrive late (the same evening, or published with an earlier date) are still caught. The first
    evaluation starts from the window before the newest disclosure: full history is a backfill.
    """
    seen: dict[str, str] = json.loads(context.cursor)["seen"] if context.cursor else {}
    with warehouse.connected() as store:
        newest = store.latest_disclosure()
        if newest is None:
            return dg.SkipReason("disclosure_date is empty: materialize it first")
        watermark = max([newest, *map(date.fromisoformat, seen.values())]) - timedelta(days=DISCLOSURE_LOOKBACK_DAYS)
        recent = store.disclosures_since(watermark)
    disclosed = {f"{code}|{end:%Y%m%d}": actual.isoformat() for code, end, actual in recent}
    new = {key: day for key, day in disclosed.items() if key not in seen}
    by_batch: dict[str, list[str]] = defaultdict(list)
    for key in sorted(new):
        by_batch[batch_of(key.split("|")[0])].append(key)
    requests = [
        dg.RunRequest(
            run_key=f"disclosed:{batch}:{_digest(keys)}",
            partition_key=batch,
            run_config=_stocks_config(
                (dataset.api_name for dataset in STATEMENT_DATASETS), sorted({key.split("|")[0] for key in keys})
            ),
            tags={"stock_pipeline/trigger": "disclosure"},
        )
        for batch, keys in sorted(by_batch.items())
    ]
    kept = {key: day for key, day in (seen | new).items() if day >= watermark.isoformat()}
    return dg.SensorResult(run_requests=requests, cursor=json.dumps({"seen": kept}, sort_keys=True))


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
                tags={"stock_pipeline/trigger": "retry"},
            )
        )
    if not requests:
        return dg.SkipReason("no failed stock is due for a retry")
    return requests


IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


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
    description="Requests missing or failed trading dates of the last N trading days, oldest first.",
)
def gap_compensation_sensor(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource, sync_policy: SyncPolicyResource
):
    with warehouse.connected() as store:
        calendar = store.calendar()
    recent = last_published_trading_days(calendar, datetime.now(SHANGHAI), sync_policy.max_compensation_days)
    recent = [day.isoformat() for day in recent if trading_days.has_partition_key(day.isoformat())]
    if not recent:
        return dg.SkipReason("no trading calendar in the warehouse yet: materialize trade_cal")
    done = [context.instance.get_materialized_partitions(key) for key in MARKET_KEYS]
    if not any(done):
        # An empty warehouse starts from the latest day; full history is an explicit backfill.
        recent = recent[-1:]
    complete = set.intersection(*(set(keys) for keys in done))
    busy = _partitions_in_flight(context.instance)
    missing = [key for key in recent if key not in complete and key not in busy]
    if not missing:
        return dg.SkipReason("no missing trading dates in the compensation window")
    return [dg.RunRequest(partition_key=key, tags={"stock_pipeline/trigger": "gap"}) for key in missing]


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
