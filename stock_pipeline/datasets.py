"""One declarative description per Tushare dataset.

A dataset's API name is also its asset key and its warehouse table; its columns are the Tushare fields
we request explicitly (the default output omits some). Adding a trading-date dataset is a few lines here
plus its name in `TRADE_DATE_DATASETS`.
"""

from dataclasses import dataclass
from datetime import time
from typing import Literal

from stock_pipeline import statement_fields

ColumnKind = Literal["str", "date", "int", "float"]
VERSION_HASH = "version_hash"


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
    # Rows the API returns at most per call; answers are silently truncated there.
    row_cap: int
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

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @property
    def stored_columns(self) -> tuple[Column, ...]:
        """The table's columns: the Tushare fields, plus `version_hash` for versioned datasets."""
        return self.columns + ((Column(VERSION_HASH, "str"),) if self.report_key else ())

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
    row_cap=10000,
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
    row_cap=6000,
)

DAILY = TushareDataset(
    api_name="daily",
    description="Unadjusted daily bars; suspended stocks have no row. vol in lots, amount in thousand yuan.",
    columns=columns("ts_code:str trade_date:date open high low close pre_close change pct_chg vol amount"),
    key=("ts_code", "trade_date"),
    row_cap=6000,
    date_column="trade_date",
    published_at=time(16, 0),
    min_coverage=0.9,
)

ADJ_FACTOR = TushareDataset(
    api_name="adj_factor",
    description="Cumulative adjustment factor per stock and trading day (hfq price = close * adj_factor).",
    columns=columns("ts_code:str trade_date:date adj_factor"),
    key=("ts_code", "trade_date"),
    row_cap=6000,
    date_column="trade_date",
    published_at=time(9, 30),
    min_coverage=0.95,
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
    date_column="trade_date",
    published_at=time(17, 0),
    min_coverage=0.9,
)


def _statement(api_name: str, description: str, fields: str, row_cap: int, date_filter: str) -> TushareDataset:
    parsed = columns(fields)
    names = {column.name for column in parsed}
    return TushareDataset(
        api_name=api_name,
        description=description,
        columns=parsed,
        key=("ts_code", VERSION_HASH),
        row_cap=row_cap,
        report_key=tuple(name for name in ("ts_code", "end_date", "report_type") if name in names),
        vip_api_name=f"{api_name}_vip",
        date_filter=date_filter,
    )


INCOME = _statement(
    "income",
    "Income statements, every version (original and revised), amounts in yuan.",
    statement_fields.INCOME_FIELDS,
    row_cap=500,
    date_filter="ann_date",
)
BALANCESHEET = _statement(
    "balancesheet",
    "Balance sheets, every version (original and revised), amounts in yuan.",
    statement_fields.BALANCESHEET_FIELDS,
    row_cap=100,
    date_filter="ann_date",
)
CASHFLOW = _statement(
    "cashflow",
    "Cash-flow statements, every version (original and revised), amounts in yuan.",
    statement_fields.CASHFLOW_FIELDS,
    row_cap=100,
    date_filter="ann_date",
)
FINA_INDICATOR = _statement(
    "fina_indicator",
    "Financial indicators per report period, every version.",
    statement_fields.FINA_INDICATOR_FIELDS,
    row_cap=100,
    date_filter="end_date",
)
DISCLOSURE_DATE = TushareDataset(
    api_name="disclosure_date",
    description="Planned and actual disclosure dates of periodic reports for the open report periods.",
    columns=columns("ts_code:str ann_date:date end_date:date pre_date:date actual_date:date modify_date:str"),
    key=("ts_code", "end_date"),
    row_cap=3000,
)

TRADE_DATE_DATASETS = (DAILY, ADJ_FACTOR, DAILY_BASIC)
STATEMENT_DATASETS = (INCOME, BALANCESHEET, CASHFLOW, FINA_INDICATOR)
ALL_DATASETS = (TRADE_CAL, STOCK_BASIC, *TRADE_DATE_DATASETS, *STATEMENT_DATASETS, DISCLOSURE_DATE)
DATASETS_BY_API = {dataset.api_name: dataset for dataset in ALL_DATASETS}
