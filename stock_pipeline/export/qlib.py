"""A qlib data folder (`provider_uri`) from the warehouse, updated by appending.

    DIR/calendars/day.txt              open SSE trading dates, one YYYY-MM-DD a line
    DIR/instruments/all.txt            SH600000<TAB>first day<TAB>last day, from list and delist dates
    DIR/features/sh600000/<field>.day.bin

Each feature file is qlib's binary layout (what its `scripts/dump_bin.py` writes and
`qlib.data.storage.file_storage.FileFeatureStorage` reads): little-endian float32, the first value the
calendar index of the stock's first bar, then one value per calendar date up to its last bar, NaN on the
dates it did not trade (suspensions).

Prices follow qlib's convention, adjusted prices plus `factor`, with raw price = adjusted / factor. The
adjustment is backward (hfq): adjusted = raw × Tushare's cumulative `adj_factor`, which grows at each
ex-date and never changes for past dates. Forward adjustment (qfq) rescales the whole history at every
ex-date and could not be appended to; hfq values already written stay right when new dates arrive.

    open, high, low, close   hfq yuan: raw × adj_factor
    volume                   hfq shares: vol (lots of 100 shares) × 100 / adj_factor, so volume × close is
                             the traded value, as qlib's exchange expects
    amount                   yuan: amount (thousand yuan) × 1000 (money is not adjusted)
    vwap                     hfq yuan: amount / shares × adj_factor; NaN when nothing traded
    change                   close / pre_close - 1: the day's return against Tushare's ex-rights previous
                             close (qlib's backtest reads it for price limits)
    factor                   adj_factor

Instruments span a stock's listing as known to `stock_basic` (clipped to the calendar): from its list date
to the last trading day before its delist date, or to the calendar's end while listed. qlib's dump_bin
spans the first to the last bar instead; listing dates keep a suspended stock in the universe and a
delisted one until its delisting, as `sp.universe` does.

Incremental: a second export into the same folder recomputes every stock from the warehouse and compares
with its files. A file whose bytes are a prefix of the new content gets only the new bytes appended;
bytes already written are never rewritten. A file whose earlier values changed (Tushare corrected an
`adj_factor` or a bar) is rewritten whole, and the stock and the first changed date are logged and
counted. When the calendar no longer extends the exported one (an earlier start, history backfilled
before it, a date removed), every index moves: the folder is rebuilt beside the old one and swapped in.
Calendar, instruments and manifest are replaced atomically after the features; a crash in between
leaves files longer than the calendar, which qlib ignores and the next export completes.
"""

import bisect
import logging
import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from stock_pipeline.datasets import ADJ_FACTOR, DAILY, STOCK_BASIC
from stock_pipeline.export import quality
from stock_pipeline.export.common import (
    ExportError,
    folder_size,
    open_warehouse,
    read_manifest,
    replacing_folder,
    write_manifest,
    write_text_atomically,
)
from stock_pipeline.warehouse import TABLES, Warehouse

KIND = "qlib"
# Bumped when the layout or a field's meaning changes: an older folder is then rebuilt.
FORMAT = 1
FIELDS = ("open", "high", "low", "close", "volume", "amount", "vwap", "change", "factor")
SHARES_PER_LOT = 100.0
YUAN_PER_THOUSAND = 1000.0
# Stocks read per query: bounds memory (about 1 MB per stock for 35 years) and keeps IN lists short.
STOCKS_PER_READ = 200
CREATED, APPENDED, UNCHANGED, REWRITTEN = "created", "appended", "unchanged", "rewritten"


@dataclass
class QlibExportReport:
    out: Path
    first_date: date
    last_date: date
    dates: int
    dates_added: int
    stocks: int
    instruments: int
    files: Counter = field(default_factory=Counter)
    stocks_rewritten: list[str] = field(default_factory=list)
    # Why the whole folder was written anew; None when it was updated in place.
    rebuilt: str | None = None
    size_bytes: int = 0
    elapsed_seconds: float = 0.0

    def summary(self) -> str:
        files = ", ".join(f"{self.files[name]} {name}" for name in (CREATED, APPENDED, UNCHANGED, REWRITTEN))
        how = f"rebuilt ({self.rebuilt})" if self.rebuilt else f"updated in place, {self.dates_added} dates added"
        return (
            f"qlib export {self.out}: {self.dates} dates {self.first_date}..{self.last_date}, {self.stocks} stocks "
            f"with features, {self.instruments} instruments; {how}; files: {files}; "
            f"{self.size_bytes / 1e6:.1f} MB in {self.elapsed_seconds:.1f} s"
        )


def qlib_code(ts_code: str) -> str:
    """`600000.SH` -> `SH600000`, qlib's instrument name (its feature folder is the lowercase)."""
    number, _, exchange = ts_code.partition(".")
    return f"{exchange}{number}".upper()


def export_qlib(
    out: Path | str,
    db_url: str | None = None,
    start: date | None = None,
    end: date | None = None,
    log: logging.Logger | None = None,
) -> QlibExportReport:
    """Write or update the qlib folder `out` from the warehouse's daily bars and adjustment factors between
    `start` and `end` (default: all of them). Raises ExportError, having written nothing, on bad input or
    when a date it would read fails the checks (see `quality`)."""
    started = time.monotonic()
    log = log or logging.getLogger(__name__)
    if start and end and start > end:
        raise ExportError(f"the start {start} is after the end {end}")
    out = Path(out)
    manifest = read_manifest(out, KIND)
    warehouse = open_warehouse(db_url)
    try:
        calendar = trading_calendar(warehouse, start, end)
        verify(warehouse, calendar)
        previous = _exported_calendar(out) if manifest else None
        reason = _rebuild_reason(manifest, previous, calendar)
        if reason is None:
            report = _write(warehouse, out, calendar, len(calendar) - len(previous), log)
        else:
            log.info("qlib export into %s: writing every file (%s)", out, reason)
            with replacing_folder(out) as staging:
                report = _write(warehouse, staging, calendar, len(calendar), log)
            report.out, report.rebuilt = out, reason
    finally:
        warehouse.dispose()
    report.size_bytes = folder_size(out)[0]
    report.elapsed_seconds = round(time.monotonic() - started, 2)
    return report


def trading_calendar(warehouse: Warehouse, start: date | None, end: date | None) -> list[date]:
    """Open SSE dates from the first to the last date with daily bars within [start, end]."""
    day = TABLES[DAILY.api_name].c.trade_date
    window = ([day >= start] if start else []) + ([day <= end] if end else [])
    with warehouse.engine.connect() as conn:
        first, last = conn.execute(sa.select(sa.func.min(day), sa.func.max(day)).where(*window)).one()
        if first is None:
            between = f" between {start or 'the first date'} and {end or 'the last'}" if start or end else ""
            raise ExportError(f"the warehouse has no daily bars{between}: sync daily (and adj_factor) first")
        bar_dates = set(conn.execute(sa.select(day).where(day.between(first, last)).distinct()).scalars())
    calendar = sorted(day for day, is_open in warehouse.calendar().items() if is_open and first <= day <= last)
    closed = sorted(bar_dates - set(calendar))
    if closed:
        raise ExportError(
            f"daily has bars on dates trade_cal does not mark open ({', '.join(map(str, closed[:10]))}): "
            "materialize trade_cal first"
        )
    return calendar


def verify(warehouse: Warehouse, calendar: Sequence[date]) -> None:
    found = quality.problems(warehouse, calendar, (DAILY, ADJ_FACTOR))
    lacking = quality.bars_without_usable_values(warehouse, calendar[0], calendar[-1])
    if lacking:
        found.append(f"bars without a price or volume or a positive adj_factor on {quality.describe_dates(lacking)}")
    quality.refuse_if_any(found)


def _exported_calendar(out: Path) -> list[date] | None:
    try:
        lines = (out / "calendars" / "day.txt").read_text().split()
        return [date.fromisoformat(line) for line in lines]
    except (OSError, ValueError):
        return None


def _rebuild_reason(manifest: dict | None, previous: list[date] | None, calendar: list[date]) -> str | None:
    if manifest is None:
        return "new folder"
    if manifest.get("format") != FORMAT or manifest.get("fields") != list(FIELDS):
        return "written by another version of the exporter"
    if previous is None:
        return "its calendar is missing or unreadable"
    if calendar[: len(previous)] != previous:
        return (
            f"the calendar {calendar[0]}..{calendar[-1]} does not extend the exported "
            f"{previous[0] if previous else None}..{previous[-1] if previous else None}: every calendar index moves"
        )
    return None


def _write(warehouse: Warehouse, folder: Path, calendar: list[date], dates_added: int, log) -> QlibExportReport:
    index = {day: position for position, day in enumerate(calendar)}
    files: Counter = Counter()
    rewritten: dict[str, str] = {}
    bar_spans: dict[str, tuple[date, date]] = {}
    codes = _stocks_with_bars(warehouse, calendar[0], calendar[-1])
    for chunk_start in range(0, len(codes), STOCKS_PER_READ):
        chunk = codes[chunk_start : chunk_start + STOCKS_PER_READ]
        for ts_code, first_index, features in _features(warehouse, chunk, calendar, index):
            last_index = first_index + len(features["close"]) - 1
            bar_spans[ts_code] = (calendar[first_index], calendar[last_index])
            stock_folder = folder / "features" / qlib_code(ts_code).lower()
            for name in FIELDS:
                content = np.concatenate(([first_index], features[name])).astype("<f4").tobytes()
                outcome, changed_at = _write_feature(stock_folder / f"{name}.day.bin", content)
                files[outcome] += 1
                if outcome == REWRITTEN and ts_code not in rewritten:
                    rewritten[ts_code] = f"{name} from {calendar[changed_at]}" if changed_at is not None else name
    for ts_code, change in rewritten.items():
        log.warning(
            "qlib export: %s rewritten, its earlier values changed in the warehouse (%s; a corrected adj_factor "
            "or bar)",
            qlib_code(ts_code),
            change,
        )
    _remove_stale(folder, {qlib_code(code).lower() for code in bar_spans}, log)
    spans = _instrument_spans(warehouse, calendar, bar_spans)
    write_text_atomically(folder / "calendars" / "day.txt", "".join(f"{day.isoformat()}\n" for day in calendar))
    write_text_atomically(
        folder / "instruments" / "all.txt",
        "".join(f"{code}\t{first.isoformat()}\t{last.isoformat()}\n" for code, (first, last) in sorted(spans.items())),
    )
    write_manifest(
        folder,
        KIND,
        format=FORMAT,
        fields=list(FIELDS),
        first_date=calendar[0].isoformat(),
        last_date=calendar[-1].isoformat(),
        adjustment="hfq: price x adj_factor; raw = price / factor; volume in shares / factor; amount in yuan",
    )
    return QlibExportReport(
        out=folder,
        first_date=calendar[0],
        last_date=calendar[-1],
        dates=len(calendar),
        dates_added=dates_added,
        stocks=len(bar_spans),
        instruments=len(spans),
        files=files,
        stocks_rewritten=sorted(qlib_code(code) for code in rewritten),
    )


def _stocks_with_bars(warehouse: Warehouse, first: date, last: date) -> list[str]:
    daily = TABLES[DAILY.api_name]
    with warehouse.engine.connect() as conn:
        query = sa.select(daily.c.ts_code).where(daily.c.trade_date.between(first, last)).distinct()
        return sorted(conn.execute(query).scalars())


def _features(
    warehouse: Warehouse, codes: Sequence[str], calendar: list[date], index: dict[date, int]
) -> Iterator[tuple[str, int, dict[str, np.ndarray]]]:
    """(ts_code, calendar index of its first bar, field -> float64 values from its first to its last bar)."""
    daily, factors = TABLES[DAILY.api_name], TABLES[ADJ_FACTOR.api_name]
    names = ("open", "high", "low", "close", "pre_close", "vol", "amount")
    query = (
        sa.select(daily.c.ts_code, daily.c.trade_date, *(daily.c[name] for name in names), factors.c.adj_factor)
        .select_from(
            daily.join(
                factors, sa.and_(factors.c.ts_code == daily.c.ts_code, factors.c.trade_date == daily.c.trade_date)
            )
        )
        .where(daily.c.ts_code.in_(codes), daily.c.trade_date.between(calendar[0], calendar[-1]))
        .order_by(daily.c.ts_code, daily.c.trade_date)
    )
    with warehouse.engine.connect() as conn:
        rows = conn.execute(query).all()
    if not rows:
        return
    columns = list(zip(*rows))
    stocks = np.array(columns[0], dtype=object)
    positions = np.fromiter((index[day] for day in columns[1]), dtype=np.int64, count=len(rows))
    values = np.array(columns[2:], dtype=np.float64)
    starts = np.flatnonzero(np.r_[True, stocks[1:] != stocks[:-1]])
    for begin, finish in zip(starts, [*starts[1:], len(rows)], strict=True):
        at = positions[begin:finish]
        open_, high, low, close, pre_close, vol, amount, factor = values[:, begin:finish]
        with np.errstate(divide="ignore", invalid="ignore"):
            computed = {
                "open": open_ * factor,
                "high": high * factor,
                "low": low * factor,
                "close": close * factor,
                "volume": vol * SHARES_PER_LOT / factor,
                "amount": amount * YUAN_PER_THOUSAND,
                "vwap": np.where(vol > 0, amount * YUAN_PER_THOUSAND / (vol * SHARES_PER_LOT) * factor, np.nan),
                "change": np.where(pre_close > 0, close / pre_close - 1, np.nan),
                "factor": factor,
            }
        span = at[-1] - at[0] + 1
        features = {}
        for name, series in computed.items():
            filled = np.full(span, np.nan)
            filled[at - at[0]] = series
            features[name] = filled
        yield stocks[begin], int(at[0]), features


def _write_feature(path: Path, content: bytes) -> tuple[str, int | None]:
    """Create, extend or (when earlier bytes differ) rewrite one feature file. Returns the outcome and, for
    a rewrite, the calendar index of the first value that changed."""
    try:
        existing = path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        return CREATED, None
    if existing == content:
        return UNCHANGED, None
    if content.startswith(existing):
        with path.open("ab") as appended:
            appended.write(content[len(existing) :])
        return APPENDED, None
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    temporary.write_bytes(content)
    os.replace(temporary, path)
    return REWRITTEN, _first_change(existing, content)


def _first_change(old: bytes, new: bytes) -> int | None:
    """Calendar index of the first value that differs, when both files start at the same index."""
    old_values, new_values = np.frombuffer(old[: len(old) // 4 * 4], "<f4"), np.frombuffer(new, "<f4")
    if not len(old_values) or old_values[0] != new_values[0]:
        return None
    shared = min(len(old_values), len(new_values))
    old_values, new_values = old_values[:shared], new_values[:shared]
    differs = ~((old_values == new_values) | (np.isnan(old_values) & np.isnan(new_values)))
    differs[0] = False
    return int(new_values[0]) + int(np.argmax(differs)) - 1 if differs.any() else None


def _remove_stale(folder: Path, current: set[str], log) -> None:
    """Feature folders of stocks that no longer have bars in the window (their rows were deleted)."""
    features = folder / "features"
    for stock_folder in sorted(features.iterdir()) if features.exists() else []:
        if stock_folder.name not in current:
            for item in stock_folder.iterdir():
                item.unlink()
            stock_folder.rmdir()
            log.warning("qlib export: removed %s, the warehouse no longer has bars for it", stock_folder.name.upper())


def _instrument_spans(
    warehouse: Warehouse, calendar: list[date], bar_spans: dict[str, tuple[date, date]]
) -> dict[str, tuple[date, date]]:
    """qlib code -> (first, last) calendar date it is listed, widened to its bars."""
    table = TABLES[STOCK_BASIC.api_name]
    with warehouse.engine.connect() as conn:
        listings = {
            code: (listed, delisted)
            for code, listed, delisted in conn.execute(
                sa.select(table.c.ts_code, table.c.list_date, table.c.delist_date)
            )
        }
    spans = {}
    for ts_code in sorted(set(listings) | set(bar_spans)):
        listed, delisted = listings.get(ts_code, (None, None))
        first_at = bisect.bisect_left(calendar, listed) if listed else len(calendar)
        last_at = bisect.bisect_left(calendar, delisted) - 1 if delisted else len(calendar) - 1
        if ts_code in bar_spans:
            first_at = min(first_at, bisect.bisect_left(calendar, bar_spans[ts_code][0]))
            last_at = max(last_at, bisect.bisect_left(calendar, bar_spans[ts_code][1]))
        if first_at <= last_at:
            spans[qlib_code(ts_code)] = (calendar[first_at], calendar[last_at])
    return spans
