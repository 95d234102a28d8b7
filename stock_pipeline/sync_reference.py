"""Sync functions for datasets fetched whole rather than by trading date: reference snapshots (name
history, index lists, the industry classification and membership), index histories (one code's whole
range per call, narrowed by date past the cap), and per-stock histories (dividends)."""

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from stock_pipeline.datasets import TushareDataset
from stock_pipeline.sync import (
    EMPTY_REASKS,
    RUN_STOPPING_ERRORS,
    FieldDrift,
    query_by_date_windows,
    query_not_empty,
)
from stock_pipeline.tushare.client import TushareClient
from stock_pipeline.tushare.errors import (
    TushareError,
    TushareNotPublishedError,
    TushareSchemaError,
)
from stock_pipeline.warehouse import Warehouse, frame_to_batch, merged_by_key, tushare_date

ALL_ROWS = "__all__"


@dataclass
class TableReport:
    """What a whole-table sync wrote, for materialization metadata."""

    rows: int = 0
    rows_by_part: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    drift: FieldDrift = field(default_factory=FieldDrift)
    elapsed_seconds: float = 0.0


def sync_snapshot(client: TushareClient, warehouse: Warehouse, dataset: TushareDataset) -> TableReport:
    """Fetch the whole table (one call per declared parameter set, each paged until an empty page) and
    replace it atomically. An empty table is refused: the service has data for every snapshot."""
    started = time.monotonic()
    report = TableReport()
    batches = []
    for params in dataset.snapshot_calls:
        batch = report.drift.add(frame_to_batch(dataset, query_not_empty(client, dataset, dict(params), 0)))
        report.rows_by_part[",".join(f"{k}={v}" for k, v in params.items()) or ALL_ROWS] = len(batch)
        batches.append(batch)
    # Several calls may return one row twice (an index listed under two markets): the last one wins.
    batch = merged_by_key(dataset, batches)
    if not len(batch):
        raise TushareNotPublishedError(
            f"every call answered no rows ({list(dataset.snapshot_calls)}); refusing to empty the table",
            api_name=dataset.api_name,
        )
    warehouse.replace_rows(dataset, batch, ALL_ROWS)
    report.rows = len(batch)
    report.elapsed_seconds = time.monotonic() - started
    return report


def sync_code_history(
    client: TushareClient, warehouse: Warehouse, dataset: TushareDataset, code: str, start: date, end: date
) -> TableReport:
    """One code's whole history in [start, end] (an index's bars or weights): one call, narrowed by
    date while answers are full (they come newest first), then replaced atomically."""
    started = time.monotonic()
    report = TableReport()
    params = {dataset.code_param: code, "start_date": tushare_date(start), "end_date": tushare_date(end)}
    batch = report.drift.add(query_by_date_windows(client, dataset, params, EMPTY_REASKS))
    if not len(batch):
        raise TushareNotPublishedError(
            f"no rows for {code} between {start} and {end}: is it a code Tushare knows, and within the "
            "points of the account?",
            api_name=dataset.api_name,
        )
    warehouse.replace_rows(dataset, batch, code, {dataset.code_param: [code]})
    report.rows = report.rows_by_part[code] = len(batch)
    report.elapsed_seconds = time.monotonic() - started
    return report


def sync_per_stock(
    client: TushareClient,
    warehouse: Warehouse,
    dataset: TushareDataset,
    stocks: Sequence[str],
    *,
    log: logging.Logger | None = None,
) -> TableReport:
    """Each stock's whole history in one call (plus pages), replacing its rows atomically. Many stocks
    truly have none (no dividend ever paid): an empty answer is believed. A stock that fails is reported
    and the others go on; errors that hold for every stock stop the run."""
    log = log or logging.getLogger(__name__)
    started = time.monotonic()
    report = TableReport()
    for ts_code in stocks:
        try:
            frame = query_not_empty(client, dataset, {"ts_code": ts_code}, 0)
            batch = report.drift.add(frame_to_batch(dataset, frame))
            codes = set(batch.columns[dataset.fields.index("ts_code")]) if len(batch) else set()
            if codes - {ts_code}:
                raise TushareSchemaError(
                    f"asked for {ts_code}, answer has {sorted(codes)[:3]}", api_name=dataset.api_name
                )
            warehouse.replace_rows(dataset, batch, ts_code, {"ts_code": [ts_code]})
            report.rows += len(batch)
            report.rows_by_part[ts_code] = len(batch)
        except RUN_STOPPING_ERRORS:
            raise
        except TushareError as error:
            report.failed[ts_code] = str(error)
            log.warning("%s %s failed: %s", dataset.api_name, ts_code, error)
    report.elapsed_seconds = time.monotonic() - started
    return report
