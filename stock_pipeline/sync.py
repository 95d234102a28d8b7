"""Plain sync functions: fetch from Tushare, check, write to the warehouse. Assets stay thin around them."""

import logging
import time
from collections.abc import Callable, Sequence, Set
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from stock_pipeline.datasets import DISCLOSURE_DATE, STOCK_BASIC, TRADE_CAL, TushareDataset
from stock_pipeline.settings import TIMEZONE
from stock_pipeline.tushare.client import TushareClient, TushareFrame
from stock_pipeline.tushare.errors import (
    TushareAuthError,
    TushareError,
    TushareNotPublishedError,
    TusharePermissionError,
    TushareQuotaError,
    TushareSchemaError,
    TushareUnavailableError,
    TushareUnknownApiError,
)
from stock_pipeline.warehouse import Batch, Warehouse, frame_to_batch, tushare_date

SHANGHAI = ZoneInfo(TIMEZONE)
# How many times an empty answer is asked again before it is believed (or reported).
EMPTY_REASKS = 2
# Only SSE and SZSE calendars matter for A-shares (BSE trades on the same days).
CALENDAR_EXCHANGES = ("SSE", "SZSE")
LIST_STATUSES = ("L", "D", "P")
# Rows a *_vip call returns at most (undocumented; has_more pages past it either way).
VIP_ROW_CAP = 5000


class CalendarGapError(RuntimeError):
    """A partition date the warehouse calendar does not cover: sync `trade_cal` first."""


@dataclass
class SyncReport:
    """What one sync wrote, for materialization metadata."""

    rows: int = 0
    dates_written: list[date] = field(default_factory=list)
    dates_closed: list[date] = field(default_factory=list)
    dates_already_synced: list[date] = field(default_factory=list)
    rows_by_date: dict[date, int] = field(default_factory=dict)
    elapsed_seconds: float = 0.0


def sync_trade_cal(client: TushareClient, warehouse: Warehouse, start: date, end: date) -> SyncReport:
    """Upsert the SSE and SZSE calendars for [start, end]; future dates are included as announced."""
    started = time.monotonic()
    report = SyncReport()
    for exchange in CALENDAR_EXCHANGES:
        params = {"exchange": exchange, "start_date": tushare_date(start), "end_date": tushare_date(end)}
        frame = query_not_empty(client, TRADE_CAL, params, EMPTY_REASKS)
        if not frame.items:
            raise TushareNotPublishedError(
                f"empty calendar for {exchange} {start}..{end}; refusing to treat it as 'no trading days'",
                api_name=TRADE_CAL.api_name,
            )
        batch = frame_to_batch(TRADE_CAL, frame)
        warehouse.upsert(TRADE_CAL, batch)
        report.rows += len(batch)
    report.elapsed_seconds = time.monotonic() - started
    return report


def sync_stock_basic(client: TushareClient, warehouse: Warehouse) -> SyncReport:
    """Upsert every stock: listed, delisted and suspended-listing. Stocks are never deleted."""
    started = time.monotonic()
    # Listed stocks always exist, so an empty "L" answer is asked again; D and P may truly be empty.
    frames = [
        query_not_empty(client, STOCK_BASIC, {"list_status": status}, EMPTY_REASKS if status == "L" else 0)
        for status in LIST_STATUSES
    ]
    if not frames[0].items:
        raise TushareNotPublishedError(
            "no listed stocks (list_status=L) in the answer; refusing to treat it as an empty market",
            api_name=STOCK_BASIC.api_name,
        )
    combined = TushareFrame(STOCK_BASIC.api_name, frames[0].fields, [])
    for frame in frames:
        combined.items.extend(_reorder(frame, combined.fields))
    batch = frame_to_batch(STOCK_BASIC, combined)
    warehouse.upsert(STOCK_BASIC, batch)
    return SyncReport(rows=len(batch), elapsed_seconds=time.monotonic() - started)


def _reorder(frame: TushareFrame, fields: Sequence[str]) -> list[list]:
    if frame.fields == tuple(fields):
        return frame.items
    positions = [frame.fields.index(name) for name in fields]
    return [[item[position] for position in positions] for item in frame.items]


def sync_trade_dates(
    client: TushareClient,
    warehouse: Warehouse,
    dataset: TushareDataset,
    days: Sequence[date],
    *,
    run_id: str | None = None,
    log: logging.Logger | None = None,
) -> SyncReport:
    """Sync one dataset for trading dates: one call per open date (plus pages), one transaction each.

    Closed dates make no call and write nothing. Dates this run already committed (a step retry) are
    not fetched again. The next date is fetched while the current one is written.
    """
    log = log or logging.getLogger(__name__)
    started = time.monotonic()
    report = SyncReport()
    calendar = warehouse.calendar()
    uncovered = [day for day in days if day not in calendar]
    if uncovered:
        raise CalendarGapError(
            f"the warehouse trading calendar does not cover {len(uncovered)} date(s) "
            f"({uncovered[0]}..{uncovered[-1]}): materialize `trade_cal` first"
        )
    done = warehouse.synced_partitions(dataset, run_id) if run_id else set()
    to_fetch = []
    for day in days:
        if not calendar[day]:
            report.dates_closed.append(day)
        elif day.isoformat() in done:
            report.dates_already_synced.append(day)
        else:
            to_fetch.append(day)
    if report.dates_already_synced:
        log.info(
            "%s: %d date(s) already committed by this run, not fetched again",
            dataset.api_name,
            len(report.dates_already_synced),
        )

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"fetch-{dataset.api_name}") as fetcher:
        pending: Future | None = fetcher.submit(_fetch_date, client, dataset, to_fetch[0]) if to_fetch else None
        for index, day in enumerate(to_fetch):
            batch = pending.result()
            pending = (
                fetcher.submit(_fetch_date, client, dataset, to_fetch[index + 1]) if index + 1 < len(to_fetch) else None
            )
            warehouse.replace_date(dataset, day, batch, run_id)
            report.rows += len(batch)
            report.rows_by_date[day] = len(batch)
            report.dates_written.append(day)
    report.elapsed_seconds = time.monotonic() - started
    return report


def query_not_empty(client: TushareClient, dataset: TushareDataset, params: dict, reasks: int) -> TushareFrame:
    """Query, asking again (with backoff) up to `reasks` times while the answer is empty: an empty
    answer is as often a fault of the service as a fact about the data."""
    for attempt in range(1, reasks + 2):
        frame = client.query(dataset.api_name, params, dataset.fields, dataset.row_cap)
        if frame.items or attempt > reasks:
            return frame
        client.pause(dataset.api_name, attempt, f"empty answer for {params}")
    raise AssertionError("unreachable")


def _fetch_date(client: TushareClient, dataset: TushareDataset, day: date) -> Batch:
    published = datetime.now(SHANGHAI) >= datetime.combine(day, dataset.published_at, SHANGHAI)
    # Before the publication time an empty answer is expected: fail at once. After it, ask again.
    reasks = EMPTY_REASKS if published else 0
    frame = query_not_empty(client, dataset, {"trade_date": tushare_date(day)}, reasks)
    if not frame.items:
        raise TushareNotPublishedError(
            f"no rows for open trading day {day} (asked {reasks + 1} time(s)). Tushare publishes "
            f"{dataset.api_name} from {dataset.published_at:%H:%M} Asia/Shanghai; an empty answer is never "
            "taken as 'no data'. Retry this partition once it is published.",
            api_name=dataset.api_name,
        )
    batch = frame_to_batch(dataset, frame)
    wanted = tushare_date(day)
    date_values = set(batch.columns[dataset.fields.index(dataset.date_column)])
    if date_values != {wanted}:
        raise TushareSchemaError(
            f"asked for {dataset.date_column}={wanted}, answer has {sorted(date_values)[:3]}",
            api_name=dataset.api_name,
        )
    return batch


# Errors that hold for every stock: failing the run at once beats writing a failure row per stock.
RUN_STOPPING_ERRORS = (TushareAuthError, TusharePermissionError, TushareUnknownApiError, TushareQuotaError)
# Consecutive stocks failing on an unavailable service before the whole batch is stopped.
MAX_CONSECUTIVE_UNAVAILABLE = 3


@dataclass
class StatementReport:
    stocks: int = 0
    rows_fetched: int = 0
    new_versions: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    elapsed_seconds: float = 0.0


def sync_statements(
    client: TushareClient,
    warehouse: Warehouse,
    dataset: TushareDataset,
    stocks: Sequence[str],
    start: date,
    *,
    partition_of: Callable[[str], str],
    max_retries: int,
    delisted_before_start: Set[str] = frozenset(),
    log: logging.Logger | None = None,
) -> StatementReport:
    """Fetch each stock's full statement history since `start` (one call per stock, plus pages) and
    store its new versions atomically. A stock that fails is recorded in `sync_failure` and the others
    go on; errors that hold for every stock stop the run.

    A stock with statements is asked again when its answer is empty; one delisted before `start`
    is expected to have none, and its empty answer is believed at once."""
    log = log or logging.getLogger(__name__)
    started = time.monotonic()
    report = StatementReport(stocks=len(stocks))
    code_position = dataset.fields.index("ts_code")
    unavailable_in_a_row = 0
    for ts_code in stocks:
        try:
            params = {"ts_code": ts_code, "start_date": tushare_date(start)}
            reasks = 0 if ts_code in delisted_before_start else EMPTY_REASKS
            frame = query_not_empty(client, dataset, params, reasks)
            codes = {item[code_position] for item in frame.items}
            if codes - {ts_code}:
                raise TushareSchemaError(
                    f"asked for {ts_code}, answer has {sorted(codes)[:3]}", api_name=dataset.api_name
                )
            batch = frame_to_batch(dataset, frame)
            report.new_versions += warehouse.insert_versions(dataset, batch, [ts_code])
            report.rows_fetched += len(frame)
            unavailable_in_a_row = 0
        except RUN_STOPPING_ERRORS:
            raise
        except TushareError as error:
            ledger = warehouse.record_failure(dataset, ts_code, partition_of(ts_code), str(error), max_retries)
            report.failed[ts_code] = str(error)
            log.warning(
                "%s %s failed (attempt %d, %s): %s",
                dataset.api_name,
                ts_code,
                ledger["attempts"],
                ledger["status"],
                error,
            )
            unavailable_in_a_row = unavailable_in_a_row + 1 if isinstance(error, TushareUnavailableError) else 0
            if unavailable_in_a_row >= MAX_CONSECUTIVE_UNAVAILABLE:
                raise TushareUnavailableError(
                    f"{unavailable_in_a_row} stocks in a row could not be fetched; stopping the batch",
                    api_name=dataset.api_name,
                ) from error
    report.elapsed_seconds = time.monotonic() - started
    return report


def sync_statements_vip(
    client: TushareClient,
    warehouse: Warehouse,
    dataset: TushareDataset,
    stocks: Sequence[str],
    periods: Sequence[date],
) -> StatementReport:
    """The 5000-points path: one call per report period for the whole market (paged), keeping the
    rows of `stocks`. Each period is stored in one transaction."""
    started = time.monotonic()
    wanted = set(stocks)
    report = StatementReport(stocks=len(stocks))
    code_position = dataset.fields.index("ts_code")
    for period in periods:
        frame = client.query(dataset.vip_api_name, {"period": tushare_date(period)}, dataset.fields, VIP_ROW_CAP)
        frame.items = [item for item in frame.items if item[code_position] in wanted]
        batch = frame_to_batch(dataset, frame)
        report.new_versions += warehouse.insert_versions(dataset, batch, {item[code_position] for item in frame.items})
        report.rows_fetched += len(frame)
    report.elapsed_seconds = time.monotonic() - started
    return report


def sync_disclosure_dates(client: TushareClient, warehouse: Warehouse, periods: Sequence[date]) -> SyncReport:
    """Upsert the disclosure calendar of the given report periods: one call per period, paged."""
    started = time.monotonic()
    report = SyncReport()
    for period in periods:
        frame = client.query(
            DISCLOSURE_DATE.api_name,
            {"end_date": tushare_date(period)},
            DISCLOSURE_DATE.fields,
            DISCLOSURE_DATE.row_cap,
        )
        batch = frame_to_batch(DISCLOSURE_DATE, frame)
        warehouse.upsert(DISCLOSURE_DATE, batch)
        report.rows += len(batch)
        report.rows_by_date[period] = len(batch)
    report.elapsed_seconds = time.monotonic() - started
    return report


def quarter_ends_between(first: date, last: date) -> list[date]:
    ends = []
    for year in range(first.year, last.year + 1):
        ends.extend(
            end
            for end in (date(year, 3, 31), date(year, 6, 30), date(year, 9, 30), date(year, 12, 31))
            if first <= end <= last
        )
    return ends
