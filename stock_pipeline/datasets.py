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
    # A whole-market answer may truly be empty (a day without suspensions): believed when asked again
    # stays empty (an empty answer is as often a fault of the service).
    may_be_empty: bool = False
    # Reference tables fetched whole, one call (and its pages) per parameter set, replaced atomically.
    snapshot_calls: tuple[dict[str, str], ...] = ()
    # Datasets that need a code per call (indexes): the parameter, also the column, naming it.
    code_param: str | None = None
    # Datasets fetched per stock (full history in one call each), partitioned by stock batch.
    per_stock: bool = False
    # Points the account needs (tushare.pro document 108); below them the dataset fails alone.
    min_points: int = 2000

    @property
    def has_report_type(self) -> bool:
        return "report_type" in self.fields

    @property
    def required_fields(self) -> tuple[str, ...]:
        """Fields without which an answer cannot be stored: keys, the partition date, a report's identity."""
        needed = [name for name in self.key if name != VERSION_HASH]
        needed += [self.date_column] if self.date_column else []
        needed += [self.code_param] if self.code_param else []
        needed += ["ts_code"] if self.per_stock else []
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
    # The permission table: "120起" (the only market dataset open to base accounts).
    min_points=120,
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

SUSPEND_D = TushareDataset(
    api_name="suspend_d",
    description="Trading suspensions (S) and resumptions (R) per day; suspend_timing is empty for a whole day.",
    columns=columns("ts_code:str trade_date:date suspend_timing:str suspend_type:str"),
    key=("ts_code", "trade_date", "suspend_type"),
    # Document 214 states no cap; 5000 is reported by a third party: declared low.
    row_cap=3000,
    row_cap_documented=False,
    date_column="trade_date",
    # "Updated irregularly" (document 214): the evening sync and the late-corrections job both take it.
    published_at=time(9, 30),
    may_be_empty=True,
)

STK_LIMIT = TushareDataset(
    api_name="stk_limit",
    description="Daily up and down price limits of A/B shares and funds (yuan).",
    columns=columns("trade_date:date ts_code:str pre_close up_limit down_limit"),
    key=("ts_code", "trade_date"),
    row_cap=5800,
    row_cap_documented=True,
    date_column="trade_date",
    # Document 183: about 08:40; the permission table says 09:00: the later one.
    published_at=time(9, 0),
    min_coverage=0.9,
    # Undocumented. Chosen late rather than early: an earlier date without rows would fail as unpublished.
    history_start=date(2007, 1, 4),
)

NAMECHANGE = TushareDataset(
    api_name="namechange",
    description="Every stock's name history (ST and *ST periods included), with the announcement date.",
    columns=columns("ts_code:str name:str start_date:date end_date:date ann_date:date change_reason:str"),
    key=(),
    # Not documented; 10000 reported in tushare issue #1858. The whole table, paged by offset.
    row_cap=10000,
    row_cap_documented=False,
    snapshot=True,
    # Without parameters: the whole table (a date filter would drop rows without ann_date, #1858).
    snapshot_calls=({},),
    min_points=120,
)

DIVIDEND = TushareDataset(
    api_name="dividend",
    description="Dividends and share distributions, one row per stage (预案, 股东大会通过, 实施) of each event.",
    columns=columns(
        "ts_code:str end_date:date ann_date:date div_proc:str stk_div stk_bo_rate stk_co_rate cash_div cash_div_tax"
        " record_date:date ex_date:date pay_date:date div_listdate:date imp_ann_date:date base_date:date base_share"
    ),
    key=(),
    # Not documented; 2000 reported by a third party. One stock's history is far below it.
    row_cap=2000,
    row_cap_documented=False,
    # One call per stock (about 5,800 for the full history) beats one per announcement day (6,000+).
    per_stock=True,
)

INDEX_BASIC = TushareDataset(
    api_name="index_basic",
    description="Index list: SSE, SZSE, CSI and SW indexes with base dates and points.",
    columns=columns(
        "ts_code:str name:str fullname:str market:str publisher:str index_type:str category:str base_date:date"
        " base_point list_date:date weight_rule:str desc:str exp_date:date"
    ),
    key=("ts_code",),
    # Document 94 states no cap; 8000 reported by a third party.
    row_cap=8000,
    row_cap_documented=False,
    snapshot=True,
    # `market` defaults to SSE: one call per market.
    snapshot_calls=({"market": "SSE"}, {"market": "SZSE"}, {"market": "CSI"}, {"market": "SW"}),
)

INDEX_CLASSIFY = TushareDataset(
    api_name="index_classify",
    description="Shenwan (SW2021) industry classification: levels L1, L2, L3 and their parents.",
    columns=columns("index_code:str industry_name:str parent_code:str level:str industry_code:str is_pub:str src:str"),
    key=("index_code",),
    # Not documented; SW2021 has 511 industries in all.
    row_cap=2000,
    row_cap_documented=False,
    snapshot=True,
    snapshot_calls=({"src": "SW2021"},),
)

INDEX_MEMBER_ALL = TushareDataset(
    api_name="index_member_all",
    description="Shenwan (SW2021) industry of every stock over time: in_date, out_date (history with is_new N).",
    columns=columns(
        "l1_code:str l1_name:str l2_code:str l2_name:str l3_code:str l3_name:str ts_code:str name:str"
        " in_date:date out_date:date is_new:str"
    ),
    key=(),
    row_cap=2000,
    row_cap_documented=True,
    snapshot=True,
    # is_new defaults to Y (current members); N gives the memberships that ended.
    snapshot_calls=({"is_new": "Y"}, {"is_new": "N"}),
)

INDEX_DAILY = TushareDataset(
    api_name="index_daily",
    description="Daily bars of the synced indexes (points; vol in lots, amount in thousand yuan).",
    columns=columns("ts_code:str trade_date:date close open high low pre_close change pct_chg vol amount"),
    key=("ts_code", "trade_date"),
    row_cap=8000,
    row_cap_documented=True,
    # Requires ts_code; one call per index over the whole range, narrowed by date past the cap.
    code_param="ts_code",
    page_by_date="trade_date",
)

INDEX_WEIGHT = TushareDataset(
    api_name="index_weight",
    description="Monthly constituent weights (%) of the synced indexes.",
    columns=columns("index_code:str con_code:str trade_date:date weight"),
    key=("index_code", "con_code", "trade_date"),
    # Not documented: declared low.
    row_cap=2000,
    row_cap_documented=False,
    code_param="index_code",
    page_by_date="trade_date",
)

TRADE_DATE_DATASETS = (DAILY, ADJ_FACTOR, DAILY_BASIC, SUSPEND_D, STK_LIMIT)
STATEMENT_DATASETS = (INCOME, BALANCESHEET, CASHFLOW, FINA_INDICATOR)
SNAPSHOT_DATASETS = (NAMECHANGE, INDEX_BASIC, INDEX_CLASSIFY, INDEX_MEMBER_ALL)
INDEX_DATASETS = (INDEX_DAILY, INDEX_WEIGHT)
ALL_DATASETS = (
    TRADE_CAL,
    STOCK_BASIC,
    *TRADE_DATE_DATASETS,
    *STATEMENT_DATASETS,
    DISCLOSURE_DATE,
    *SNAPSHOT_DATASETS,
    DIVIDEND,
    *INDEX_DATASETS,
)
DATASETS_BY_API = {dataset.api_name: dataset for dataset in ALL_DATASETS}
