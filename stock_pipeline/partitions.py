"""Partitions in one place.

Market data is partitioned by trading date (`YYYY-MM-DD`, Asia/Shanghai). Weekends are never
partitions; holidays are excluded as far as the warehouse's `trade_cal` knows them when the code loads
(reload the code location after syncing a new calendar). A date the calendar later marks closed is
still safe: its partition makes no API call and writes nothing.
"""

import logging
import zlib
from datetime import date, datetime
from pathlib import Path

import dagster as dg
from sqlalchemy.engine import make_url

from stock_pipeline import settings
from stock_pipeline.datasets import TRADE_DATE_DATASETS
from stock_pipeline.warehouse import Warehouse

log = logging.getLogger(__name__)

WEEKENDS = ("0 0 * * 6", "0 0 * * 0")


def known_holidays(db_url: str, since: date) -> list[date]:
    """Closed weekdays in the warehouse calendar; empty when there is no calendar yet."""
    try:
        url = make_url(db_url)
        if url.get_backend_name() == "sqlite" and not Path(url.database or "").exists():
            return []
        warehouse = Warehouse(db_url)
        try:
            calendar = warehouse.calendar()
        finally:
            warehouse.dispose()
    except Exception as error:  # noqa: BLE001 - a missing or unreachable warehouse must not break loading
        reason = str(error).splitlines()[0]
        log.warning("Trading calendar unavailable (%s); only weekends are excluded from partitions", reason)
        return []
    return sorted(day for day, is_open in calendar.items() if not is_open and day.weekday() < 5 and day >= since)


def build_trading_days(start_date: str, holidays: list[date]) -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(
        start_date=start_date,
        timezone=settings.TIMEZONE,
        # Today's partition exists from midnight, so a same-day schedule can ask for it after the close.
        end_offset=1,
        exclusions=[*WEEKENDS, *(datetime.combine(day, datetime.min.time()) for day in holidays)],
    )


trading_days = build_trading_days(
    settings.start_date(), known_holidays(settings.db_url(), date.fromisoformat(settings.start_date()))
)


# Financial statements are partitioned by stock batch. A stock's batch is a hash of its code, so it
# never moves as the stock list grows; the batch's stocks are read from `stock_basic` at run time.
# Changing the count reshuffles every stock: it is fixed here, not configured.
STOCK_BATCH_COUNT = 32
stock_batches = dg.StaticPartitionsDefinition([f"batch_{index:02d}" for index in range(STOCK_BATCH_COUNT)])


def batch_of(ts_code: str) -> str:
    return f"batch_{zlib.crc32(ts_code.encode()) % STOCK_BATCH_COUNT:02d}"


def last_published_trading_days(calendar: dict[date, bool], now: datetime, count: int) -> list[date]:
    """The last `count` open dates whose market data is fully published at `now` (Asia/Shanghai)."""
    today = now.date()
    complete_from = max(dataset.published_at for dataset in TRADE_DATE_DATASETS)
    days = sorted(
        day
        for day, is_open in calendar.items()
        if is_open and (day < today or (day == today and now.time() >= complete_from))
    )
    return days[-count:] if count > 0 else []


# Tags that make one run cover a range of partitions (what backfills with a single-run policy set).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
