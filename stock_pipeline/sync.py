"""Plain sync functions: fetch from Tushare, check, write to the warehouse. Assets stay thin around them."""

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence, Set
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from stock_pipeline.datasets import (
    DEFAULT_REPORT_TYPES,
    DISCLOSURE_DATE,
    LATEST_STATEMENT,
    STOCK_BASIC,
    TRADE_CAL,
    TushareDataset,
)
from stock_pipeline.settings import TIMEZONE
from stock_pipeline.tushare.client import MAX_PAGES, TushareClient, TushareFrame
from stock_pipeline.tushare.errors import (
    TushareAuthError,
    TushareError,
    TushareNotPublishedError,
    TusharePagingError,
    TushareParameterError,
    TusharePermissionError,
    TushareQuotaError,
    TushareSchemaError,
    TushareUnavailableError,
    TushareUnknownApiError,
)
from stock_pipeline.warehouse import Batch, Warehouse, concat_batches, frame_to_batch, merged_by_key, tushare_date

SHANGHAI = ZoneInfo(TIMEZONE)
# How many times an empty answer is asked again before it is believed (or reported).
EMPTY_REASKS = 2
# Only SSE and SZSE calendars matter for A-shares (BSE trades on the same days).
CALENDAR_EXCHANGES = ("SSE", "SZSE")
LIST_STATUSES = ("L", "D", "P")
# Dates of one dataset fetched ahead of the writes, one call at a time (so a spent quota stops the next
# call), and committed in date order.
FETCHES_AHEAD = 8
# Rows a *_vip call returns at most (undocumented; has_more pages past it either way).
VIP_ROW_CAP = 5000


class CalendarGapError(RuntimeError):
    """A partition date the warehouse calendar does not cover: sync `trade_cal` first."""


@dataclass
class FieldDrift:
    """Declared fields the service left out of its answers (stored as NULL), and fields it added."""

    missing: set[str] = field(default_factory=set)
    extra: set[str] = field(default_factory=set)

    def add(self, batch: Batch) -> Batch:
        self.missing.update(batch.missing_fields)
        self.extra.update(batch.extra_fields)
        return batch


@dataclass
class SyncReport:
    """What one sync wrote, for materialization metadata."""

    rows: int = 0
    dates_written: list[date] = field(default_factory=list)
    dates_closed: list[date] = field(default_factory=list)
    dates_already_synced: list[date] = field(default_factory=list)
    dates_before_history: list[date] = field(default_factory=list)
    rows_by_date: dict[date, int] = field(default_factory=dict)
    drift: FieldDrift = field(default_factory=FieldDrift)
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
        batch = report.drift.add(frame_to_batch(TRADE_CAL, frame))
        warehouse.upsert(TRADE_CAL, batch)
        report.rows += len(batch)
    report.elapsed_seconds = time.monotonic() - started
    return report


def sync_stock_basic(client: TushareClient, warehouse: Warehouse) -> SyncReport:
    """Upsert every stock: listed, delisted and suspended-listing. Stocks are never deleted.

    A stock whose status changes between the three calls appears in two answers: the later one wins."""
    started = time.monotonic()
    report = SyncReport()
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
    batch = report.drift.add(merged_by_key(STOCK_BASIC, [frame_to_batch(STOCK_BASIC, frame) for frame in frames]))
    warehouse.upsert(STOCK_BASIC, batch)
    report.rows = len(batch)
    report.elapsed_seconds = time.monotonic() - started
    return report


def sync_trade_dates(
    client: TushareClient,
    warehouse: Warehouse,
    dataset: TushareDataset,
    days: Sequence[date],
    *,
    run_id: str | None = None,
    is_unfinished: Callable[[str], bool] = lambda run_id: False,
    on_commit: Callable[[date, int, int, int], None] = lambda day, rows, calls, expected: None,
    log: logging.Logger | None = None,
) -> SyncReport:
    """Sync one dataset for trading dates: one call per open date (plus pages), one transaction each.

    Closed dates make no call and write nothing. A date last committed by this run (a step retry) or by
    a run that did not finish (`is_unfinished`: failed, cancelled, crashed) is not fetched again: the
    next run resumes where that one stopped, and takes those dates over. A date last committed by a
    finished run is fetched again: asking for it is a refresh. `on_commit(day, rows, calls, expected
    rows)` follows each date's commit. Up to `FETCHES_AHEAD` dates are fetched while the current one is written.
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
    last_commits = warehouse.last_commits(dataset, [day.isoformat() for day in days])
    done = {
        key
        for key, committed_by in last_commits.items()
        if committed_by and (committed_by == run_id or is_unfinished(committed_by))
    }
    to_fetch = []
    for day in days:
        if not calendar[day]:
            report.dates_closed.append(day)
        elif dataset.history_start and day < dataset.history_start:
            report.dates_before_history.append(day)
        elif day.isoformat() in done:
            report.dates_already_synced.append(day)
        else:
            to_fetch.append(day)
    if report.dates_already_synced:
        log.info(
            "%s: %d date(s) already committed by this run or an unfinished one, not fetched again",
            dataset.api_name,
            len(report.dates_already_synced),
        )
        if run_id:
            warehouse.adopt_partitions(dataset, [day.isoformat() for day in report.dates_already_synced], run_id)

    # A whole-market answer far short of the stocks listed that day is confirmed with the next page.
    listed = warehouse.expected_counts(to_fetch)
    expected = {day: int(listed[day] * (dataset.min_coverage or 0)) or None for day in to_fetch}

    def fetch(day: date) -> tuple[Batch, int]:
        # One fetch at a time uses the client, so its call count before and after is this date's.
        before = client.stats.total_calls()
        batch = _fetch_date(client, dataset, day, expected[day])
        return batch, client.stats.total_calls() - before

    # Calls go out as fast as the budget allows, not one per write: a minute's budget is spent in a burst
    # while the writes follow, so the next minute's calls (paced by this one's) are not spaced by the writes.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"fetch-{dataset.api_name}") as fetcher:
        pending: deque[Future] = deque(fetcher.submit(fetch, day) for day in to_fetch[:FETCHES_AHEAD])
        for index, day in enumerate(to_fetch):
            try:
                batch, calls = pending.popleft().result()
            except BaseException:
                for future in pending:  # a failed date stops the dates after it: nothing is fetched past it
                    future.cancel()
                raise
            report.drift.add(batch)
            if index + FETCHES_AHEAD < len(to_fetch):
                pending.append(fetcher.submit(fetch, to_fetch[index + FETCHES_AHEAD]))
            warehouse.replace_date(dataset, day, batch, run_id)
            report.rows += len(batch)
            report.rows_by_date[day] = len(batch)
            report.dates_written.append(day)
            on_commit(day, len(batch), calls, listed[day])
    report.elapsed_seconds = time.monotonic() - started
    return report


def query_not_empty(
    client: TushareClient,
    dataset: TushareDataset,
    params: dict,
    reasks: int,
    *,
    expected_rows: int | None = None,
    by_offset: bool = True,
) -> TushareFrame:
    """Query, asking again (with backoff) up to `reasks` times while the answer is empty: an empty
    answer is as often a fault of the service as a fact about the data. Snapshots are always confirmed
    with an empty next page."""
    for attempt in range(1, reasks + 2):
        frame = client.query(
            dataset.api_name,
            params,
            dataset.fields,
            dataset.row_cap,
            confirm=dataset.snapshot,
            expected_rows=expected_rows,
            by_offset=by_offset,
        )
        if frame.items or attempt > reasks:
            return frame
        client.pause(dataset.api_name, attempt, f"empty answer for {params}")
    raise AssertionError("unreachable")


def _fetch_date(client: TushareClient, dataset: TushareDataset, day: date, expected_rows: int | None) -> Batch:
    published = datetime.now(SHANGHAI) >= datetime.combine(day, dataset.published_at, SHANGHAI)
    # Before the publication time an empty answer is expected: fail at once. After it, ask again.
    reasks = EMPTY_REASKS if published else 0
    frame = query_not_empty(client, dataset, {"trade_date": tushare_date(day)}, reasks, expected_rows=expected_rows)
    if not frame.items and published and dataset.may_be_empty:
        return frame_to_batch(dataset, frame)  # a day without suspensions, still empty when asked again
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
# Errors that, repeated on consecutive stocks, say the request or the service is wrong, not the stock:
# after this many in a row the batch stops with one failure, and they are not put in the ledger.
SYSTEMATIC_ERRORS = (TushareSchemaError, TushareParameterError, TushareUnavailableError)
MAX_SAME_ERROR_IN_A_ROW = 3


@dataclass
class StatementReport:
    stocks: int = 0
    rows_fetched: int = 0
    new_versions: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    stocks_resumed: int = 0
    periods_resumed: int = 0
    drift: FieldDrift = field(default_factory=FieldDrift)
    elapsed_seconds: float = 0.0


class _FailureStreak:
    """Failures of consecutive stocks held back while they share one systematic error class."""

    def __init__(self, record: Callable[[str, TushareError], None]):
        self._record = record
        self._held: list[tuple[str, TushareError]] = []

    def failed(self, ts_code: str, error: TushareError) -> None:
        if self._held and type(self._held[-1][1]) is not type(error):
            self.flush()
        if not isinstance(error, SYSTEMATIC_ERRORS):
            self._record(ts_code, error)
            return
        self._held.append((ts_code, error))
        if len(self._held) >= MAX_SAME_ERROR_IN_A_ROW:
            codes = ", ".join(code for code, _ in self._held)
            raise type(error)(
                f"{len(self._held)} stocks in a row ({codes}) failed with the same error, so the request or the "
                f"service is at fault, not the stocks; the batch stops here and they are not put in the failure "
                f"ledger. Last error: {error}",
                api_name=error.api_name,
            ) from error

    def flush(self) -> None:
        for ts_code, error in self._held:
            self._record(ts_code, error)
        self._held.clear()


def sync_statements(
    client: TushareClient,
    warehouse: Warehouse,
    dataset: TushareDataset,
    stocks: Sequence[str],
    start: date,
    *,
    partition_of: Callable[[str], str],
    max_retries: int,
    report_types: Sequence[str] = DEFAULT_REPORT_TYPES,
    delisted_before_start: Set[str] = frozenset(),
    run_id: str | None = None,
    is_unfinished: Callable[[str], bool] = lambda run_id: False,
    log: logging.Logger | None = None,
) -> StatementReport:
    """Fetch each stock's full statement history since `start` (one call per stock and report type,
    plus pages) and store its new versions atomically. A stock that fails is recorded in `sync_failure`
    and the others go on; errors that hold for every stock stop the run, and the same error on several
    stocks in a row stops the batch.

    A stock with statements is asked again when its latest statements come back empty; one delisted
    before `start` is expected to have none, and its empty answer is believed at once.

    As with trading dates, a stock last stored by this run (a step retry) or by a run that did not
    finish (`is_unfinished`) is not fetched again, and the resuming run takes it over."""
    log = log or logging.getLogger(__name__)
    started = time.monotonic()
    report = StatementReport(stocks=len(stocks))

    def record(ts_code: str, error: TushareError) -> None:
        ledger = warehouse.record_failure(dataset, ts_code, partition_of(ts_code), str(error), max_retries)
        report.failed[ts_code] = str(error)
        log.warning(
            "%s %s failed (attempt %d, %s): %s", dataset.api_name, ts_code, ledger["attempts"], ledger["status"], error
        )

    last_commits = warehouse.last_commits(dataset, list(stocks))
    resumed = {
        code
        for code, committed_by in last_commits.items()
        if committed_by and (committed_by == run_id or is_unfinished(committed_by))
    }
    if resumed:
        log.info("%s: %d stock(s) already stored by this run or an unfinished one", dataset.api_name, len(resumed))
        if run_id:
            warehouse.adopt_partitions(dataset, sorted(resumed), run_id)
    report.stocks_resumed = len(resumed)

    streak = _FailureStreak(record)
    for ts_code in (code for code in stocks if code not in resumed):
        try:
            reasks = 0 if ts_code in delisted_before_start else EMPTY_REASKS
            batch = report.drift.add(fetch_statement_history(client, dataset, ts_code, start, report_types, reasks))
            # Only an answer with rows resolves the stock's failures: an empty one proves nothing.
            report.new_versions += warehouse.insert_versions(dataset, batch, [ts_code] if len(batch) else [])
            warehouse.log_stock(dataset, ts_code, len(batch), run_id)
            report.rows_fetched += len(batch)
            streak.flush()
        except RUN_STOPPING_ERRORS:
            raise
        except TushareError as error:
            streak.failed(ts_code, error)
    streak.flush()
    report.elapsed_seconds = time.monotonic() - started
    return report


def fetch_statement_history(
    client: TushareClient,
    dataset: TushareDataset,
    ts_code: str,
    start: date,
    report_types: Sequence[str],
    reasks: int,
) -> Batch:
    """One stock's statements since `start`, every requested report type, checked and combined."""
    batches = []
    for report_type in report_types if dataset.has_report_type else (None,):
        params = {"ts_code": ts_code, "start_date": tushare_date(start)}
        if report_type is not None:
            params["report_type"] = report_type
        # Only the latest statement must exist; the other types exist only for changed statements.
        type_reasks = reasks if report_type in (None, LATEST_STATEMENT) else 0
        if dataset.page_by_date:
            batch = query_by_date_windows(client, dataset, params, type_reasks)
        else:
            frame = query_not_empty(client, dataset, params, type_reasks)
            batch = frame_to_batch(dataset, _with_requested(frame, "report_type", report_type))
        _check_answer_is_for(dataset, batch, "ts_code", ts_code)
        if report_type is not None:
            _check_answer_is_for(dataset, batch, "report_type", report_type)
        batches.append(batch)
    return concat_batches(dataset, batches)


def _with_requested(frame: TushareFrame, name: str, value: str | None) -> TushareFrame:
    """An answer lacking a field the request fixed (a report type asked for) gets it from the request."""
    if value is None or name in frame.fields:
        return frame
    return TushareFrame(
        frame.api_name, (*frame.fields, name), [[*item, value] for item in frame.items], frame.missing_fields
    )


def _check_answer_is_for(dataset: TushareDataset, batch: Batch, name: str, wanted: str) -> None:
    values = set(batch.columns[dataset.fields.index(name)]) if len(batch) else set()
    if values - {wanted}:
        raise TushareSchemaError(
            f"asked for {name}={wanted}, answer has {sorted(map(str, values))[:3]}", api_name=dataset.api_name
        )


def query_by_date_windows(client: TushareClient, dataset: TushareDataset, params: dict, reasks: int) -> Batch:
    """Page by date, as the API documents: answers come newest first, so after a full answer ask again
    for the periods up to its oldest one (inclusive: that period may have been cut)."""
    column = dataset.fields.index(dataset.page_by_date)
    batches: list[Batch] = []
    window = dict(params)
    for _ in range(MAX_PAGES):
        frame = query_not_empty(client, dataset, window, reasks, by_offset=False)
        batch = frame_to_batch(dataset, frame)
        batches.append(batch)
        if len(frame) < dataset.row_cap:  # the answer's own length: repeated rows count against the cap
            return concat_batches(dataset, batches)
        oldest = min(batch.columns[column])
        if window.get("end_date") == oldest:
            raise TusharePagingError(
                f"{len(batch)} rows for {dataset.page_by_date} {oldest} alone reach the {dataset.row_cap}-row cap: "
                "the window cannot be narrowed further",
                api_name=dataset.api_name,
            )
        window, reasks = {**params, "end_date": oldest}, 0
    raise TusharePagingError(f"more than {MAX_PAGES} date windows for {params}", api_name=dataset.api_name)


def sync_statements_vip(
    client: TushareClient,
    warehouse: Warehouse,
    dataset: TushareDataset,
    stocks: Sequence[str],
    periods: Sequence[date],
    report_types: Sequence[str] = DEFAULT_REPORT_TYPES,
    *,
    partition_of: Callable[[str], str],
    run_id: str | None = None,
    is_unfinished: Callable[[str], bool] = lambda run_id: False,
    log: logging.Logger | None = None,
) -> StatementReport:
    """The 5000-points path: one call per report period and report type for the whole market (paged),
    keeping the rows of `stocks`. Each period is stored in one transaction, then logged per stock batch
    (`<batch>@<period>`).

    As on the per-stock path, a period whose batches were all stored by this run (a step retry) or by a run
    that did not finish (`is_unfinished`) is not fetched again, and the resuming run takes it over; a period
    stored for only some of the batches is fetched again for the others."""
    log = log or logging.getLogger(__name__)
    started = time.monotonic()
    report = StatementReport(stocks=len(stocks))
    code_position = dataset.fields.index("ts_code")
    batches = sorted({partition_of(code) for code in stocks})
    keys = {period: {batch: f"{batch}@{tushare_date(period)}" for batch in batches} for period in periods}
    last_commits = warehouse.last_commits(dataset, [key for by_batch in keys.values() for key in by_batch.values()])
    resumed = {
        key
        for key, committed_by in last_commits.items()
        if committed_by and (committed_by == run_id or is_unfinished(committed_by))
    }
    if resumed and run_id:
        warehouse.adopt_partitions(dataset, sorted(resumed), run_id)
    for period in periods:
        left = {batch for batch, key in keys[period].items() if key not in resumed}
        if not left:
            report.periods_resumed += 1
            continue
        wanted = {code for code in stocks if partition_of(code) in left}
        batch_frames = []
        for report_type in report_types if dataset.has_report_type else (None,):
            params = {"period": tushare_date(period), "report_type": report_type}
            frame = client.query(dataset.vip_api_name, params, dataset.fields, VIP_ROW_CAP)
            frame.items = [item for item in frame.items if item[code_position] in wanted]
            batch_frames.append(report.drift.add(frame_to_batch(dataset, frame)))
        batch = concat_batches(dataset, batch_frames)
        codes = set(batch.columns[code_position]) if len(batch) else set()
        report.new_versions += warehouse.insert_versions(dataset, batch, codes)
        for stock_batch in sorted(left):
            rows = sum(partition_of(code) == stock_batch for code in batch.columns[code_position]) if len(batch) else 0
            warehouse.log_stock(dataset, keys[period][stock_batch], rows, run_id)
        report.rows_fetched += len(batch)
    if report.periods_resumed:
        log.info(
            "%s: %d period(s) already stored by this run or an unfinished one", dataset.api_name, report.periods_resumed
        )
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
        batch = report.drift.add(frame_to_batch(DISCLOSURE_DATE, frame))
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
