"""One declarative description per Tushare dataset.

A dataset's API name is also its asset key and its warehouse table; its columns are the Tushare fields
we request explicitly (the default output omits some). Adding a trading-date dataset is a few lines here
plus its name in `TRADE_DATE_DATASETS`.
"""

from dataclasses import dataclass
from datetime import date, time
from typing import Literal

from stock_pipeline import statement_fields

ColumnKind = Literal["str", "date", "int", "float", "timestamp"]
VERSION_HASH = "version_hash"
# When the warehouse first stored a version (UTC), and the first day it counts as public (see statements.py).
FIRST_SEEN_AT = "first_seen_at"
KNOWN_FROM = "known_from"
# Statement report types (tushare.pro document 33): 1 the latest consolidated statement, 4 restated
# prior-year comparatives, 5 the original of a statement that was later changed. Point-in-time reads need
# 1 and 5; each type costs one call per stock.
LATEST_STATEMENT, RESTATED_COMPARATIVES, ORIGINAL_BEFORE_CHANGE = "1", "4", "5"
DEFAULT_REPORT_TYPES = (LATEST_STATEMENT, ORIGINAL_BEFORE_CHANGE)


@dataclass(frozen=True)
class Column:
    name: str
    kind: ColumnKind


def columns(spec: str) -> tuple[Column, ...]:
    """Parse `"ts_code:str trade_date:date open high"`; a column without a kind is a float."""
    parsed = []
    for token in spec.split():
        name, _, kind = token.partition(":")
        parsed.append(Column(name, kind or "float"))  # type: ignore[arg-type]
    return tuple(parsed)


@dataclass(frozen=True)
class TushareDataset:
    api_name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    # Rows the API returns at most per call; answers are silently truncated there. Caps Tushare does not
    # document are declared low: a full page is always followed by another call.
    row_cap: int
    row_cap_documented: bool
    # The trading-date column for datasets partitioned by trading date.
    date_column: str | None = None
    # Asia/Shanghai time of day from which day T's rows are published.
    published_at: time | None = None
    # Share of the stocks listed on a date that one date's answer should cover (asset check).
    min_coverage: float | None = None
    # For versioned datasets (financial statements): the columns naming one report. Every distinct
    # version of a report is kept, identified by `version_hash`, a digest of all its fields.
    report_key: tuple[str, ...] | None = None
    # The whole-market variant for accounts with 5000 points, called per report period.
    vip_api_name: str | None = None
    # The date that the API's start_date/end_date filter: announcement date or report period.
    date_filter: str | None = None
    # The first date the source has data for; earlier trading dates make no call.
    history_start: date | None = None
    # A whole snapshot in a few calls (calendar, stock list): always confirmed by asking the next page
    # until an empty one, since a lower cap than declared would otherwise truncate it silently.
    snapshot: bool = False
    # Page by shrinking this date's window instead of by offset (the API documents "split by date").
    page_by_date: str | None = None

    @property
    def has_report_type(self) -> bool:
        return "report_type" in self.fields

    @property
    def required_fields(self) -> tuple[str, ...]:
        """Fields without which an answer cannot be stored: keys, the partition date, a report's identity."""
        needed = [name for name in self.key if name != VERSION_HASH]
        needed += [self.date_column] if self.date_column else []
        needed += list(self.report_key or ()) + (["ann_date"] if self.report_key else [])
        return tuple(dict.fromkeys(needed))

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @property
    def stored_columns(self) -> tuple[Column, ...]:
        """The table's columns: the Tushare fields, plus the version bookkeeping of versioned datasets."""
        if not self.report_key:
            return self.columns
        return (
            *self.columns,
            Column(VERSION_HASH, "str"),
            Column(FIRST_SEEN_AT, "timestamp"),
            Column(KNOWN_FROM, "date"),
        )

    @property
    def stored_fields(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.stored_columns)

    @property
    def date_columns(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns if column.kind == "date")


TRADE_CAL = TushareDataset(
    api_name="trade_cal",
    description="Exchange trading calendar (SSE and SZSE), including announced future dates.",
    columns=columns("exchange:str cal_date:date is_open:int pretrade_date:date"),
    key=("exchange", "cal_date"),
    # Not documented; 10000 rows was the cap in 2018 (tushare issue #814), the whole history since.
    row_cap=10000,
    row_cap_documented=False,
    snapshot=True,
)

STOCK_BASIC = TushareDataset(
    api_name="stock_basic",
    description="Every A-share ever listed: listed (L), delisted (D) and suspended-listing (P). Never pruned.",
    columns=columns(
        "ts_code:str symbol:str name:str area:str industry:str fullname:str enname:str cnspell:str"
        " market:str exchange:str curr_type:str list_status:str list_date:date delist_date:date"
        " is_hs:str act_name:str act_ent_type:str"
    ),
    key=("ts_code",),
    # Document 25 only says one call fetches all.
    row_cap=6000,
    row_cap_documented=False,
    snapshot=True,
)

DAILY = TushareDataset(
    api_name="daily",
    description="Unadjusted daily bars; suspended stocks have no row. vol in lots, amount in thousand yuan.",
    columns=columns("ts_code:str trade_date:date open high low close pre_close change pct_chg vol amount"),
    key=("ts_code", "trade_date"),
    row_cap=6000,
    row_cap_documented=True,
    date_column="trade_date",
    # Document 27 says 15:00-16:00, the permission table 15:00-17:00: the later one.
    published_at=time(17, 0),
    min_coverage=0.9,
    history_start=date(1990, 12, 19),
)

ADJ_FACTOR = TushareDataset(
    api_name="adj_factor",
    description="Cumulative adjustment factor per stock and trading day (hfq price = close * adj_factor).",
    columns=columns("ts_code:str trade_date:date adj_factor"),
    key=("ts_code", "trade_date"),
    # Not documented. Declared as daily's: a whole-market day is ~5,400 rows, so a lower cap would page
    # every day; a real cap below this is caught by the short-answer check, which asks for the next page.
    row_cap=6000,
    row_cap_documented=False,
    date_column="trade_date",
    published_at=time(9, 30),
    min_coverage=0.95,
    history_start=date(1990, 12, 19),
)

DAILY_BASIC = TushareDataset(
    api_name="daily_basic",
    description="Daily indicators: turnover, valuation ratios, share counts (10k shares) and market value (10k yuan).",
    columns=columns(
        "ts_code:str trade_date:date close turnover_rate turnover_rate_f volume_ratio pe pe_ttm pb ps"
        " ps_ttm dv_ratio dv_ttm total_share float_share free_share total_mv circ_mv"
    ),
    key=("ts_code", "trade_date"),
    row_cap=6000,
    row_cap_documented=True,
    date_column="trade_date",
    published_at=time(17, 0),
    min_coverage=0.9,
    history_start=date(1990, 12, 19),
)


def _statement(
    api_name: str,
    description: str,
    fields: str,
    row_cap: int,
    row_cap_documented: bool,
    date_filter: str,
    page_by_date: str | None = None,
) -> TushareDataset:
    parsed = columns(fields)
    names = {column.name for column in parsed}
    return TushareDataset(
        api_name=api_name,
        description=description,
        columns=parsed,
        key=("ts_code", VERSION_HASH),
        row_cap=row_cap,
        row_cap_documented=row_cap_documented,
        report_key=tuple(name for name in ("ts_code", "end_date", "report_type") if name in names),
        vip_api_name=f"{api_name}_vip",
        date_filter=date_filter,
        page_by_date=page_by_date,
    )


INCOME = _statement(
    "income",
    "Income statements, every version (original and revised), amounts in yuan.",
    statement_fields.INCOME_FIELDS,
    # Not documented (500 is reported by a third party): declared low.
    row_cap=100,
    row_cap_documented=False,
    date_filter="ann_date",
)
BALANCESHEET = _statement(
    "balancesheet",
    "Balance sheets, every version (original and revised), amounts in yuan.",
    statement_fields.BALANCESHEET_FIELDS,
    row_cap=100,
    row_cap_documented=False,
    date_filter="ann_date",
)
CASHFLOW = _statement(
    "cashflow",
    "Cash-flow statements, every version (original and revised), amounts in yuan.",
    statement_fields.CASHFLOW_FIELDS,
    row_cap=100,
    row_cap_documented=False,
    date_filter="ann_date",
)
FINA_INDICATOR = _statement(
    "fina_indicator",
    "Financial indicators per report period, every version.",
    statement_fields.FINA_INDICATOR_FIELDS,
    # Document 79: at most 100 rows per call, "split the request by date".
    row_cap=100,
    row_cap_documented=True,
    date_filter="end_date",
    page_by_date="end_date",
)
DISCLOSURE_DATE = TushareDataset(
    api_name="disclosure_date",
    description="Planned and actual disclosure dates of periodic reports for the open report periods.",
    columns=columns("ts_code:str ann_date:date end_date:date pre_date:date actual_date:date modify_date:str"),
    key=("ts_code", "end_date"),
    row_cap=3000,
    row_cap_documented=True,
)

TRADE_DATE_DATASETS = (DAILY, ADJ_FACTOR, DAILY_BASIC)
STATEMENT_DATASETS = (INCOME, BALANCESHEET, CASHFLOW, FINA_INDICATOR)
ALL_DATASETS = (TRADE_CAL, STOCK_BASIC, *TRADE_DATE_DATASETS, *STATEMENT_DATASETS, DISCLOSURE_DATE)
DATASETS_BY_API = {dataset.api_name: dataset for dataset in ALL_DATASETS}
