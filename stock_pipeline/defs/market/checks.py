"""Checks of trading-date datasets, evaluated over the dates a run wrote: keys, coverage, OHLC sanity."""

from collections.abc import Sequence
from datetime import date

import dagster as dg

from stock_pipeline.datasets import TushareDataset
from stock_pipeline.defs.checks import upstream_fields_spec
from stock_pipeline.warehouse import Warehouse

UNIQUE_KEYS = "unique_keys"
ROWS_VS_LISTED = "rows_vs_listed"
OHLC_SANITY = "ohlc_sanity"
BAR_FIELDS = {"open", "high", "low", "close", "vol"}


def check_specs(dataset: TushareDataset) -> list[dg.AssetCheckSpec]:
    specs = [
        upstream_fields_spec(dataset),
        dg.AssetCheckSpec(
            UNIQUE_KEYS, asset=dataset.api_name, description=f"No two rows share {', '.join(dataset.key)}."
        ),
    ]
    if dataset.min_coverage:
        specs.append(
            dg.AssetCheckSpec(
                ROWS_VS_LISTED,
                asset=dataset.api_name,
                description=f"Each date has at least {dataset.min_coverage:.0%} as many rows as stocks listed "
                "that day in `stock_basic`, less those suspended all day in `suspend_d` (catches partial answers).",
            )
        )
    if set(dataset.fields) >= BAR_FIELDS:
        specs.append(
            dg.AssetCheckSpec(
                OHLC_SANITY, asset=dataset.api_name, description="low <= open, close <= high and vol >= 0 on every row."
            )
        )
    return specs


def evaluate(warehouse: Warehouse, dataset: TushareDataset, days: Sequence[date]) -> list[dg.AssetCheckResult]:
    stats = warehouse.date_stats(dataset, days)
    duplicated = {day: s["rows"] - s["distinct_keys"] for day, s in stats.items() if s["rows"] != s["distinct_keys"]}
    results = [
        dg.AssetCheckResult(
            check_name=UNIQUE_KEYS,
            passed=not duplicated,
            metadata={"dates_checked": len(days), "dates_with_duplicates": _dates(duplicated)},
        )
    ]
    if dataset.min_coverage:
        results.append(_coverage(warehouse, dataset, days, stats))
    if set(dataset.fields) >= BAR_FIELDS:
        insane = {day: s["insane_rows"] for day, s in stats.items() if s["insane_rows"]}
        results.append(
            dg.AssetCheckResult(
                check_name=OHLC_SANITY,
                passed=not insane,
                metadata={"dates_checked": len(days), "dates_with_bad_rows": _dates(insane)},
            )
        )
    return results


def _coverage(
    warehouse: Warehouse, dataset: TushareDataset, days: Sequence[date], stats: dict[date, dict[str, int]]
) -> dg.AssetCheckResult:
    # Stocks suspended all day have no bar: they are expected to be absent (July 2015 is not "partial").
    listed = warehouse.expected_counts(days)
    coverage = {day: (stats[day]["rows"] / listed[day]) if listed[day] else 0.0 for day in days}
    short = {day: ratio for day, ratio in coverage.items() if ratio < (dataset.min_coverage or 0)}
    return dg.AssetCheckResult(
        check_name=ROWS_VS_LISTED,
        passed=not short,
        metadata={
            "dates_checked": len(days),
            "min_coverage": round(min(coverage.values()), 4) if coverage else None,
            "short_dates": _dates({day: f"{stats[day]['rows']}/{listed[day]}" for day in short}),
            "hint": ""
            if not short
            else (
                "stock_basic is empty: materialize it first"
                if not any(listed.values())
                else "partial answers: re-materialize these dates"
            ),
        },
    )


def _dates(values: dict[date, object], limit: int = 20) -> str:
    shown = ", ".join(f"{day}: {value}" for day, value in sorted(values.items())[:limit])
    return shown + (f" (+{len(values) - limit} more)" if len(values) > limit else "")
