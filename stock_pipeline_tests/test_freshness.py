"""Freshness that knows the calendar: late data on a trading day alerts once; weekends and holidays never."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from stock_pipeline.defs.market.assets import trade_date_assets
from stock_pipeline.defs.operations.alerts import AlertResource
from stock_pipeline.defs.operations.freshness import freshness_tick, overdue_datasets
from stock_pipeline.resources import WarehouseResource
from stock_pipeline.warehouse import Warehouse
from stock_pipeline_tests.conftest import alert_webhook, make_resources, materialize_dates, materialize_reference

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAILY_ASSET = next(asset for asset in trade_date_assets if asset.key.path == ["daily"])


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture
def synced(server, tmp_path):
    """A warehouse with the calendar and stock list, and `daily` (only) of the last open day before the
    server's clock; yields (url, that day, the calendar)."""
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    resources = make_resources(server, url)
    assert materialize_reference(resources).success
    store = Warehouse(url)
    calendar = store.calendar()
    store.dispose()
    day = max(d for d, is_open in calendar.items() if is_open and d < date(2024, 7, 12))
    assert materialize_dates([DAILY_ASSET], resources, day.isoformat(), day.isoformat()).success
    return url, day, calendar


def overdue_names(url: str, now: datetime, grace: int = 90) -> list[str] | str:
    store = Warehouse(url)
    try:
        found = overdue_datasets(store, now, grace)
    finally:
        store.dispose()
    return found if isinstance(found, str) else sorted(item.dataset for item in found)


def test_a_trading_day_flags_exactly_the_datasets_missing_past_their_deadline(synced):
    url, day, _ = synced
    # 12:00: the datasets published in the morning (adj_factor 09:30, suspend_d 09:30, stk_limit 09:00) are
    # due 90 minutes later; the evening ones (daily, daily_basic, 17:00) are not due before 18:30.
    assert overdue_names(url, at(day, 12)) == ["adj_factor", "stk_limit", "suspend_d"]
    assert overdue_names(url, at(day, 18, 29)) == ["adj_factor", "stk_limit", "suspend_d"]
    # 18:30: daily has landed, daily_basic has not.
    assert overdue_names(url, at(day, 18, 30)) == ["adj_factor", "daily_basic", "stk_limit", "suspend_d"]
    assert overdue_names(url, at(day, 8)) == f"no dataset is due yet on {day}"
    # A longer grace moves every deadline.
    assert overdue_names(url, at(day, 12), grace=240) == f"no dataset is due yet on {day}"


def test_weekends_holidays_and_unknown_days_never_alert(synced):
    url, _, calendar = synced
    weekend = next(d for d in sorted(calendar) if d.weekday() == 5)
    holiday = next(d for d, is_open in sorted(calendar.items()) if not is_open and d.weekday() < 5)
    assert overdue_names(url, at(weekend, 20)) == f"{weekend} is not a trading day"
    assert overdue_names(url, at(holiday, 20)) == f"{holiday} is not a trading day"
    beyond = max(calendar) + timedelta(days=1)
    assert "not in trade_cal" in overdue_names(url, at(beyond, 20))


def test_late_data_is_posted_to_the_alert_webhook_once(synced):
    url, day, _ = synced
    warehouse = WarehouseResource(url=url)
    with alert_webhook() as (hook_url, received), dg.instance_for_test() as instance:
        alerts = AlertResource(webhook_url=hook_url)
        first = freshness_tick(dg.build_sensor_context(instance=instance), warehouse, alerts, at(day, 19))
        again = dg.build_sensor_context(instance=instance, cursor=first.cursor)
        second = freshness_tick(again, warehouse, alerts, at(day, 19, 30))
    assert sorted(message["dataset"] for message in received) == [
        "adj_factor",
        "daily_basic",
        "stk_limit",
        "suspend_d",
    ]
    assert {message["trade_date"] for message in received} == {day.isoformat()}
    assert next(m for m in received if m["dataset"] == "daily_basic")["deadline"] == "18:30 Asia/Shanghai"
    assert second.skip_reason is not None  # reported once, not every tick
