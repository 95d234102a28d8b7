"""Schedules: the daily incremental sync and the re-sync of late corrections."""

from zoneinfo import ZoneInfo

import dagster as dg

from stock_pipeline import settings
from stock_pipeline.defs.market.jobs import LATE_CORRECTED, daily_sync_job, late_corrections_job
from stock_pipeline.defs.market.partitions import PUBLISHED_AT, last_published_trading_days, trading_days
from stock_pipeline.defs.shared import RANGE_END_TAG, RANGE_START_TAG
from stock_pipeline.resources import SyncPolicyResource, WarehouseResource

SHANGHAI = ZoneInfo(settings.TIMEZONE)
_hour, _minute = settings.daily_sync_time()
DAILY_SYNC_CRON = f"{_minute} {_hour} * * 1-5"


@dg.schedule(
    job=daily_sync_job,
    cron_schedule=DAILY_SYNC_CRON,
    execution_timezone=settings.TIMEZONE,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Each weekday after publication: refresh calendar and stock list, then sync that trading day.",
)
def daily_sync_schedule(context: dg.ScheduleEvaluationContext, warehouse: WarehouseResource):
    day = context.scheduled_execution_time.astimezone(SHANGHAI).date()
    with warehouse.connected() as store:
        is_open = store.calendar().get(day)
    if is_open is False or day.weekday() >= 5:
        return dg.SkipReason(f"{day} is not a trading day")
    if not trading_days.has_partition_key(day.isoformat()):
        return dg.SkipReason(
            f"{day}'s data is published at {PUBLISHED_AT:%H:%M}: set {settings.DAILY_SYNC_TIME_ENV} after it"
        )
    return dg.RunRequest(run_key=day.isoformat(), partition_key=day.isoformat())


@dg.schedule(
    job=late_corrections_job,
    cron_schedule=f"{_minute} {(_hour + 2) % 24} * * 1-5",
    execution_timezone=settings.TIMEZONE,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Re-sync the last K trading days of adj_factor, daily_basic and suspend_d: Tushare corrects history.",
)
def late_corrections_schedule(
    context: dg.ScheduleEvaluationContext, warehouse: WarehouseResource, sync_policy: SyncPolicyResource
):
    now = context.scheduled_execution_time.astimezone(SHANGHAI)
    with warehouse.connected() as store:
        days = last_published_trading_days(store.calendar(), now, sync_policy.late_correction_days + 1)
    # Today's partition belongs to the daily sync; correct the days before it.
    days = [day for day in days if day < now.date()][-sync_policy.late_correction_days :]
    days = [day for day in days if trading_days.has_partition_key(day.isoformat())]
    if not days:
        return dg.SkipReason("no trading days to correct yet")
    first, last = days[0].isoformat(), days[-1].isoformat()
    # A refresh on purpose: dates an unfinished run committed are fetched again too.
    refresh = {"ops": {dataset.api_name: {"config": {"force": True}} for dataset in LATE_CORRECTED}}
    return dg.RunRequest(
        run_key=f"corrections:{last}", run_config=refresh, tags={RANGE_START_TAG: first, RANGE_END_TAG: last}
    )
