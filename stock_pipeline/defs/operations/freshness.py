"""Freshness that knows the calendar: on an open trading day, a trading-date dataset that has not landed
by its publication time plus a grace period is reported once to the alert hook. Weekends and holidays
(closed in `trade_cal`) never alert; a day the calendar does not know is reported as such, not guessed."""

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import dagster as dg

from stock_pipeline.datasets import TRADE_DATE_DATASETS, TushareDataset
from stock_pipeline.defs.market.schedules import SHANGHAI
from stock_pipeline.defs.operations.alerts import AlertResource
from stock_pipeline.resources import WarehouseResource
from stock_pipeline.warehouse import Warehouse


@dataclass(frozen=True)
class Overdue:
    dataset: str
    trade_date: date
    deadline: time


def deadline_of(dataset: TushareDataset, grace_minutes: int) -> time:
    published = datetime.combine(date.min, dataset.published_at)
    return (published + timedelta(minutes=grace_minutes)).time()


def overdue_datasets(store: Warehouse, now: datetime, grace_minutes: int) -> list[Overdue] | str:
    """The trading-date datasets without a row for today (Asia/Shanghai) past their deadline, or why none
    can be: a closed day, a day before every deadline, or a calendar that does not know today."""
    today = now.astimezone(SHANGHAI).date()
    is_open = store.calendar().get(today)
    if is_open is None:
        return f"{today} is not in trade_cal: materialize trade_cal (freshness needs the calendar)"
    if not is_open:
        return f"{today} is not a trading day"
    due = [
        dataset
        for dataset in TRADE_DATE_DATASETS
        if now.astimezone(SHANGHAI).time() >= deadline_of(dataset, grace_minutes)
    ]
    if not due:
        return f"no dataset is due yet on {today}"
    return [
        Overdue(dataset.api_name, today, deadline_of(dataset, grace_minutes))
        for dataset in due
        if not store.date_stats(dataset, [today]).get(today, {}).get("rows")
    ]


def freshness_tick(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource, alerts: AlertResource, now: datetime
) -> dg.SensorResult:
    alerted = set(json.loads(context.cursor)) if context.cursor else set()
    with warehouse.connected() as store:
        found = overdue_datasets(store, now, alerts.freshness_grace_minutes)
    if isinstance(found, str):
        return dg.SensorResult(skip_reason=found, cursor=context.cursor)
    fresh_alerts = [item for item in found if f"{item.dataset}|{item.trade_date}" not in alerted]
    for item in fresh_alerts:
        message = {
            "alert": "not landed",
            "dataset": item.dataset,
            "trade_date": item.trade_date.isoformat(),
            "deadline": f"{item.deadline:%H:%M} Asia/Shanghai",
        }
        context.log.warning(f"Data not landed: {json.dumps(message)}")
        alerts.send(message)
        alerted.add(f"{item.dataset}|{item.trade_date}")
    today = now.astimezone(SHANGHAI).date().isoformat()
    cursor = json.dumps(sorted(key for key in alerted if key.endswith(today)))
    if not fresh_alerts:
        return dg.SensorResult(skip_reason="every due dataset has landed, or was already reported", cursor=cursor)
    return dg.SensorResult(cursor=cursor)


@dg.sensor(
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="On trading days, alerts once per dataset when today's data has not landed by its publication "
    "time plus AlertResource.freshness_grace_minutes. Weekends and holidays never alert.",
)
def market_freshness_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource, alerts: AlertResource):
    return freshness_tick(context, warehouse, alerts, datetime.now(SHANGHAI))
