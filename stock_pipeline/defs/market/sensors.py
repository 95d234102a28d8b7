"""Gap compensation: request the datasets still missing for recent trading dates, with backoff and a limit."""

import json
import time
from datetime import datetime

import dagster as dg

from stock_pipeline.defs.market.jobs import MARKET_KEYS, market_data_job
from stock_pipeline.defs.market.partitions import last_published_trading_days, trading_days
from stock_pipeline.defs.market.schedules import SHANGHAI
from stock_pipeline.defs.shared import RANGE_END_TAG, RANGE_START_TAG, TRIGGER_TAG, due, runs_in_flight
from stock_pipeline.resources import SyncPolicyResource, WarehouseResource


def _partitions_in_flight(instance: dg.DagsterInstance) -> set[str]:
    """Trading dates that a queued or running run already covers (single dates or ranges)."""
    covered: set[str] = set()
    for run in runs_in_flight(instance):
        tags = run.tags
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
        if not due(int(count), last, sync_policy.gap_backoff_seconds, now):
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
