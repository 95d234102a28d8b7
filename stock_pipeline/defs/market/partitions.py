"""Trading-date partitions. Nothing here reads a database: importing the package touches none.

Market data is partitioned by weekday (`YYYY-MM-DD`, Asia/Shanghai) from the start date, not by the
trading days the warehouse calendar knows. Why weekdays rather than a dynamic partition set fed by
`trade_cal`: the set is a pure function of the start date, so every process (webserver, daemon, code
server, run workers) sees the same partitions without reading the warehouse or reloading code; a
calendar change (a new year, a holiday added late) changes no partition, so no sensor or schedule tick
and no running backfill can meet a partition key that vanished; and the keys stay in date order, which
range backfills need (dynamic keys are ordered by insertion). The price is a few holidays a year shown
as partitions: a date `trade_cal` marks closed makes no API call and writes nothing, and its partition
is reported done (`dates_closed`), so it stays green and costs nothing.
"""

from datetime import date, datetime

import dagster as dg

from stock_pipeline import settings
from stock_pipeline.datasets import TRADE_DATE_DATASETS

# A day's partition appears when the last of its datasets is published (daily and daily_basic, 17:00), so
# the newest partition, what the UI's "Latest" picks, is never a day whose data cannot exist yet.
PUBLISHED_AT = max(dataset.published_at for dataset in TRADE_DATE_DATASETS)
WEEKENDS = tuple(f"{PUBLISHED_AT.minute} {PUBLISHED_AT.hour} * * {weekday}" for weekday in (6, 0))


def build_trading_days(start_date: str) -> dg.DailyPartitionsDefinition:
    """Every weekday from `start_date`; the calendar decides at run time which of them are open."""
    return dg.DailyPartitionsDefinition(
        start_date=start_date,
        timezone=settings.TIMEZONE,
        # Each partition's window starts at the publication time of its day, and (end_offset=1) the partition
        # exists from the start of its window: day D from D 17:00 Asia/Shanghai.
        hour_offset=PUBLISHED_AT.hour,
        minute_offset=PUBLISHED_AT.minute,
        end_offset=1,
        exclusions=list(WEEKENDS),
    )


trading_days = build_trading_days(settings.start_date())


def last_published_trading_days(calendar: dict[date, bool], now: datetime, count: int) -> list[date]:
    """The last `count` open dates whose market data is fully published at `now` (Asia/Shanghai)."""
    today = now.date()
    complete_from = PUBLISHED_AT
    days = sorted(
        day
        for day, is_open in calendar.items()
        if is_open and (day < today or (day == today and now.time() >= complete_from))
    )
    return days[-count:] if count > 0 else []
