"""The gate in front of every export: the dates it reads must pass the checks the market assets run on
each date they write — unique keys, rows against the stocks expected to trade, OHLC sanity — and every bar
must have its adjustment factor. A bad date stops the export before a file is touched."""

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa

from stock_pipeline.datasets import ADJ_FACTOR, DAILY, TRADE_DATE_DATASETS, TushareDataset
from stock_pipeline.export.common import ExportError
from stock_pipeline.warehouse import TABLES, Warehouse

SHOWN_DATES = 10


def problems(warehouse: Warehouse, days: Sequence[date], datasets: Sequence[TushareDataset]) -> list[str]:
    """One phrase per failed check, naming its dates; empty when every date passes."""
    found = []
    expected = warehouse.expected_counts(days) if any(dataset.min_coverage for dataset in datasets) else {}
    for dataset in datasets:
        stats = warehouse.date_stats(dataset, days)
        duplicated = {day: s["rows"] - s["distinct_keys"] for day, s in stats.items() if s["rows"] > s["distinct_keys"]}
        if duplicated:
            found.append(f"{dataset.api_name} rows sharing a key on {describe_dates(duplicated)}")
        if dataset.min_coverage:
            short = {
                day: f"{s['rows']}/{expected[day]} rows"
                for day, s in stats.items()
                if s["rows"] < dataset.min_coverage * expected[day] or not expected[day]
            }
            if short:
                found.append(
                    f"{dataset.api_name} below {dataset.min_coverage:.0%} of the stocks expected to trade on "
                    f"{describe_dates(short)}"
                )
        insane = {day: f"{s['insane_rows']} rows" for day, s in stats.items() if s.get("insane_rows")}
        if insane:
            found.append(
                f"{dataset.api_name} rows breaking low <= open, close <= high or vol >= 0 on {describe_dates(insane)}"
            )
    return found


def refuse_if_any(found: Sequence[str]) -> None:
    if found:
        raise ExportError(
            "refusing to export bad data: " + "; ".join(found) + ". Re-sync or fix these dates, then export again"
        )


def trade_date_table_problems(warehouse: Warehouse) -> list[str]:
    """The checks over every date stored in each trading-date table. (A date never synced is a gap in the
    table, not a bad row; the qlib export, whose calendar would show it, refuses gaps itself.)"""
    found = []
    for dataset in TRADE_DATE_DATASETS:
        day = TABLES[dataset.api_name].c[dataset.date_column]
        with warehouse.engine.connect() as conn:
            stored = sorted(conn.execute(sa.select(day).distinct()).scalars())
        if stored:
            found += problems(warehouse, stored, [dataset])
    return found


def bars_without_usable_values(warehouse: Warehouse, first: date, last: date) -> dict[date, int]:
    """Per date, bars lacking a price or volume, or without a positive adjustment factor: qlib's adjusted
    prices cannot be computed for them."""
    daily, factors = TABLES[DAILY.api_name], TABLES[ADJ_FACTOR.api_name]
    joined = daily.outerjoin(
        factors, sa.and_(factors.c.ts_code == daily.c.ts_code, factors.c.trade_date == daily.c.trade_date)
    )
    lacking = sa.or_(
        factors.c.adj_factor.is_(None),
        factors.c.adj_factor <= 0,
        *(daily.c[name].is_(None) for name in ("open", "high", "low", "close", "vol", "amount")),
    )
    query = (
        sa.select(daily.c.trade_date, sa.func.count())
        .select_from(joined)
        .where(daily.c.trade_date.between(first, last), lacking)
        .group_by(daily.c.trade_date)
    )
    with warehouse.engine.connect() as conn:
        return dict(conn.execute(query).all())


def describe_dates(values: dict[date, object]) -> str:
    ordered = sorted(values.items())
    shown = ", ".join(f"{day} ({value})" for day, value in ordered[:SHOWN_DATES])
    return shown + (f" and {len(ordered) - SHOWN_DATES} more dates" if len(ordered) > SHOWN_DATES else "")
