"""A read-only, offline stand-in for the official Tushare client, answered from the warehouse.

    import stock_pipeline as sp
    pro = sp.pro_api()                      # db_url=None: STOCK_PIPELINE_DB_URL, else ./data/warehouse.db
    pro.daily(ts_code="000001.SZ,600000.SH", start_date="20240101", end_date="20240630")
    pro.query("income", ts_code="000001.SZ", fields="ts_code,ann_date,end_date,n_income,update_flag")

Each call answers the pandas DataFrame that `tushare.pro_api(token).query(...)` gives for the same call: the
same columns in the same order (the documented default output, or the requested `fields`, a comma string or a
list), the same dtypes (the frame is built from plain Python values exactly as the official client builds it
from JSON), dates as `YYYYMMDD` strings, and rows in the service's order (newest trading date first, then
code; statements newest report period and announcement first; see `APIS`). The documented parameters filter
as the service does: comma-joined `ts_code` lists, `trade_date`, `start_date`/`end_date` (inclusive; on the
announcement date for income, balancesheet, cashflow and namechange, on the report period for
fina_indicator), `list_status`, `is_open`, `exchange`, `report_type` ("1" when not given), `src`, `is_new`
and so on; `offset` and `limit` page as the service pages. Statements answer every stored version the service
still serves: originals and revisions with their `update_flag`, but not a type-1 version stored before the
company changed that statement (the service now serves those numbers as type 5).

Where it differs from the service, on purpose:
- No row caps: a call answers every matching row (the service silently truncates at its cap; the warehouse
  is local, so there is no reason to).
- It answers what the warehouse holds: a date, stock or report never synced is absent (as if unpublished).
  A statement report fetched twice verbatim by the service (it sends byte-identical duplicate rows) is held
  once, so it is answered once.
- Mistakes are errors, never silent: an unknown API, parameter or field, a malformed date, a value the
  warehouse does not sync (index_classify's default `src` SW2014), or a documented field it does not store
  raise `ProApiError` (a ValueError), where the service would ignore the parameter or drop the field.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from stock_pipeline import datasets, settings, versions
from stock_pipeline.database import create_engine
from stock_pipeline.datasets import TushareDataset
from stock_pipeline.sync import CALENDAR_EXCHANGES
from stock_pipeline.warehouse import TABLES

if TYPE_CHECKING:
    import pandas as pd

ASC, DESC = False, True


class ProApiError(ValueError):
    """A call the warehouse cannot answer as Tushare would; the message says why."""


@dataclass(frozen=True)
class Param:
    """A documented parameter: `column` equal to one of its comma-joined values, or on or after (`from`) or on
    or before (`to`) a date."""

    column: str
    match: Literal["in", "from", "to"] = "in"


def _in(*names: str) -> dict[str, Param]:
    return {name: Param(name) for name in names}


def _dated(column: str) -> dict[str, Param]:
    return {"start_date": Param(column, "from"), "end_date": Param(column, "to")}


def _by_trade_date(code: str = "ts_code") -> dict[str, Param]:
    return _in(code, "trade_date") | _dated("trade_date")


@dataclass(frozen=True)
class Api:
    dataset: TushareDataset
    params: Mapping[str, Param]
    # The service's answer order: (field, descending), most significant first. A missing value sorts lowest.
    order: tuple[tuple[str, bool], ...]
    # Fields left out of the default output ("默认显示 N" in the docs).
    hidden: frozenset[str] = frozenset()
    defaults: Mapping[str, str] = field(default_factory=dict)
    # Groups of parameters of which the service requires at least one.
    required: tuple[tuple[str, ...], ...] = ()
    # Documented fields the warehouse does not store.
    unstored: tuple[str, ...] = ()
    # Values of a parameter the warehouse syncs; any other value has nothing behind it.
    synced: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Several comma-joined codes answer nothing (measured on the live service in 2026).
    several_codes_answer_nothing: bool = False

    @property
    def default_fields(self) -> tuple[str, ...]:
        return tuple(name for name in self.dataset.fields if name not in self.hidden)


def _hidden(spec: str) -> frozenset[str]:
    return frozenset(spec.split())


NEWEST_TRADE_DATE_FIRST = (("trade_date", DESC), ("ts_code", ASC))
# Statements: newest report period, then newest announcement (DOC-33/79 samples); a pair sharing both dates
# lists the flag-0 original before the flag-1 correction (a live 000001.SZ 2018H1 answer).
NEWEST_REPORT_FIRST = (("end_date", DESC), ("ann_date", DESC), ("ts_code", ASC), ("update_flag", ASC))
STATEMENT_PARAMS = _in("ts_code", "ann_date", "report_type", "comp_type") | {"period": Param("end_date")}
# Income, balancesheet and cashflow: start_date/end_date filter the announcement date (DOC-33/36/44).
ANNOUNCED_STATEMENT_PARAMS = STATEMENT_PARAMS | _dated("ann_date")


def _snapshot_values(dataset: TushareDataset) -> dict[str, tuple[str, ...]]:
    names = {name for call in dataset.snapshot_calls for name in call}
    return {name: tuple(call[name] for call in dataset.snapshot_calls) for name in names}


def _statement(dataset: TushareDataset, params: Mapping[str, Param], hidden: str, **kwargs) -> Api:
    return Api(
        dataset,
        params,
        NEWEST_REPORT_FIRST,
        _hidden(hidden),
        required=(("ts_code",),),  # "只能按单只股票获取" (DOC-33/36/44/79): the service refuses without it
        **kwargs,
    )


# Parameters, defaults, hidden fields and order of every dataset, from the Tushare documents (DOC-n:
# tushare.pro/document/2?doc_id=n; see docs/ and /work/shared/reference/tushare-api.md §4).
APIS: dict[str, Api] = {
    api.dataset.api_name: api
    for api in (
        # DOC-26: exchange defaults to SSE; newest date first since 2023 (#1691); is_open '0' or '1'.
        Api(
            datasets.TRADE_CAL,
            _in("exchange", "is_open") | _dated("cal_date"),
            (("cal_date", DESC), ("exchange", ASC)),
            defaults={"exchange": "SSE"},
            synced={"exchange": CALENDAR_EXCHANGES},
        ),
        # DOC-25: list_status defaults to L (comma-joined statuses answer their union).
        Api(
            datasets.STOCK_BASIC,
            _in("ts_code", "name", "market", "list_status", "exchange", "is_hs"),
            (("ts_code", ASC),),
            _hidden("fullname enname exchange curr_type list_status delist_date is_hs"),
            defaults={"list_status": "L"},
        ),
        # DOC-27: ah_vol and ah_amount (after-hours trades, 2026) are not stored.
        Api(datasets.DAILY, _by_trade_date(), NEWEST_TRADE_DATE_FIRST, unstored=("ah_vol", "ah_amount")),
        Api(datasets.ADJ_FACTOR, _by_trade_date(), NEWEST_TRADE_DATE_FIRST),  # DOC-28
        # DOC-32: ts_code or trade_date ("二选一"); limit_status (2026) is not stored.
        Api(
            datasets.DAILY_BASIC,
            _by_trade_date(),
            NEWEST_TRADE_DATE_FIRST,
            required=(("ts_code", "trade_date"),),
            unstored=("limit_status",),
        ),
        # DOC-214: resumptions (R) before suspensions (S) within a day.
        Api(
            datasets.SUSPEND_D,
            _by_trade_date() | _in("suspend_type"),
            (("trade_date", DESC), ("suspend_type", ASC), ("ts_code", ASC)),
        ),
        Api(datasets.STK_LIMIT, _by_trade_date(), NEWEST_TRADE_DATE_FIRST, _hidden("pre_close")),  # DOC-183
        _statement(
            datasets.INCOME,
            ANNOUNCED_STATEMENT_PARAMS | _in("f_ann_date"),
            "net_after_nr_lp_correct credit_impa_loss net_expo_hedging_benefits oth_impair_loss_assets "
            "total_opcost amodcost_fin_assets oth_income asset_disp_income continued_net_profit end_net_profit",
            defaults={"report_type": "1"},
            several_codes_answer_nothing=True,
        ),
        _statement(
            datasets.BALANCESHEET,
            ANNOUNCED_STATEMENT_PARAMS,
            "oth_eq_invest oth_illiq_fin_assets oth_eq_ppbond receiv_financing use_right_assets lease_liab",
            defaults={"report_type": "1"},
            several_codes_answer_nothing=True,
        ),
        _statement(
            datasets.CASHFLOW,
            ANNOUNCED_STATEMENT_PARAMS | _in("f_ann_date"),
            "",
            defaults={"report_type": "1"},
            several_codes_answer_nothing=True,
        ),
        # DOC-79: start_date/end_date filter the report period; no report_type.
        _statement(
            datasets.FINA_INDICATOR,
            _in("ts_code", "ann_date") | {"period": Param("end_date")} | _dated("end_date"),
            "invturn_days arturn_days inv_turn valuechange_income interst_income daa roe_avg opincome_of_ebt "
            "investincome_of_ebt n_op_profit_of_ebt tax_to_ebt dtprofit_to_profit salescash_to_or ocf_to_or "
            "ocf_to_opincome capitalized_to_da ocf_to_interestdebt ocf_to_netdebt ebit_to_interest "
            "longdebt_to_workingcapital ebitda_to_debt profit_prefin_exp non_op_profit op_to_ebt nop_to_ebt "
            "ocf_to_profit cash_to_liqdebt cash_to_liqdebt_withinterest op_to_liqdebt op_to_debt roic_yearly "
            "total_fa_trun q_opincome q_investincome q_dtprofit q_eps q_netprofit_margin q_gsprofit_margin "
            "q_exp_to_sales q_profit_to_gr q_adminexp_to_gr q_finaexp_to_gr q_impair_to_gr_ttm q_op_to_gr "
            "q_opincome_to_ebt q_investincome_to_ebt q_dtprofit_to_profit q_salescash_to_or q_ocf_to_or q_gr_yoy "
            "q_gr_qoq q_sales_qoq q_op_yoy q_profit_yoy q_profit_qoq q_netprofit_yoy q_netprofit_qoq rd_exp "
            "update_flag",
        ),
        # DOC-162: end_date is the report period (equality); planned disclosure date first.
        Api(
            datasets.DISCLOSURE_DATE,
            _in("ts_code", "end_date", "pre_date", "actual_date"),
            (("pre_date", ASC), ("ts_code", ASC)),
            _hidden("modify_date"),
        ),
        # DOC-100: start_date/end_date filter ann_date, so rows without one drop out (#1858); newest first.
        Api(
            datasets.NAMECHANGE,
            _in("ts_code") | _dated("ann_date"),
            (("ann_date", DESC), ("ts_code", ASC), ("start_date", DESC)),
        ),
        # DOC-103: one of the parameters is required; the stages of one event share their dates and list the
        # latest stage first (实施, 股东大会通过, 预案).
        Api(
            datasets.DIVIDEND,
            _in("ts_code", "ann_date", "record_date", "ex_date", "imp_ann_date", "end_date"),
            (("end_date", DESC), ("ann_date", DESC), ("ts_code", ASC), ("div_proc", ASC)),
            _hidden("base_date base_share"),
            required=(("ts_code", "ann_date", "record_date", "ex_date", "imp_ann_date", "end_date"),),
        ),
        # DOC-94 (2026, XZ): without `market`, every market.
        Api(
            datasets.INDEX_BASIC,
            _in("ts_code", "name", "market", "publisher", "category"),
            (("ts_code", ASC),),
            _hidden("fullname index_type weight_rule desc exp_date"),
            synced=_snapshot_values(datasets.INDEX_BASIC),
        ),
        # DOC-95: one index per call.
        Api(datasets.INDEX_DAILY, _by_trade_date(), NEWEST_TRADE_DATE_FIRST, required=(("ts_code",),)),
        # DOC-96
        Api(
            datasets.INDEX_WEIGHT,
            _by_trade_date("index_code"),
            (("trade_date", DESC), ("con_code", ASC)),
            required=(("index_code",),),
        ),
        # DOC-181: src defaults to SW2014.
        Api(
            datasets.INDEX_CLASSIFY,
            _in("index_code", "level", "parent_code", "src"),
            (("industry_code", ASC),),
            _hidden("src"),
            defaults={"src": "SW2014"},
            synced=_snapshot_values(datasets.INDEX_CLASSIFY),
        ),
        # DOC-335: is_new defaults to Y (current memberships); by stock, newest membership first.
        Api(
            datasets.INDEX_MEMBER_ALL,
            _in("l1_code", "l2_code", "l3_code", "ts_code", "is_new"),
            (("ts_code", ASC), ("in_date", DESC)),
            defaults={"is_new": "Y"},
            synced=_snapshot_values(datasets.INDEX_MEMBER_ALL),
        ),
    )
}
PAGING = ("offset", "limit")
# Dividend stages, latest first.
DIVIDEND_STAGES = ("实施", "股东大会通过", "预案")


class ProApi:
    """`pro.query(api_name, fields='', **params)` and `pro.<api_name>(**params)`, answered from the warehouse."""

    def __init__(self, db_url: str | None = None):
        self.db_url = db_url or settings.db_url()
        self._engine = _read_engine(self.db_url)
        self._statements: dict[tuple, sa.Select] = {}

    def query(self, api_name: str, fields: str | Iterable[str] = "", **params: Any) -> "pd.DataFrame":
        import pandas as pd

        api = APIS.get(api_name)
        if api is None:
            raise ProApiError(
                f"请指定正确的接口名: the warehouse has no API {api_name!r}; it answers {', '.join(sorted(APIS))}"
            )
        given = _given(api, params)
        columns = _columns(api, fields)
        if api.several_codes_answer_nothing and len(given.get("ts_code", "").split(",")) > 1:
            return pd.DataFrame([], columns=columns)
        statement, values = self._select(api, columns, given)
        try:
            with self._engine.connect() as conn:
                result = conn.execute(statement, values)
                # Plain tuples straight from the driver: every value is already as Tushare sends it.
                rows = result.cursor.fetchall()
                result.close()
        except (sa.exc.OperationalError, sa.exc.ProgrammingError) as error:
            raise ProApiError(
                f"cannot read `{api_name}` from the warehouse {make_url(self.db_url).render_as_string()}: "
                f"{str(error.orig).strip()} (has the dataset been synced?)"
            ) from None
        return pd.DataFrame(rows, columns=columns)

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return partial(self.query, name)

    def _select(self, api: Api, columns: list[str], given: dict[str, str]) -> tuple[sa.Select, dict[str, object]]:
        """The query for this shape of call (built once per shape, values bound), and its values."""
        kinds = {column.name: column.kind for column in api.dataset.columns}
        values: dict[str, object] = {}
        for name, text in given.items():
            if name in PAGING:
                continue
            param = api.params[name]
            if param.match == "in":
                values[name] = [_typed(name, value, kinds[param.column]) for value in text.split(",")]
            else:
                values[name] = _date(name, text)
        paging = tuple((name, _count(name, given[name])) for name in PAGING if name in given)
        shape = (api.dataset.api_name, tuple(columns), tuple(sorted(values)), paging)
        if shape not in self._statements:
            self._statements[shape] = self._build(api, columns, sorted(values), dict(paging))
        return self._statements[shape], values

    def _build(self, api: Api, columns: list[str], names: list[str], paging: dict[str, int]) -> sa.Select:
        table = TABLES[api.dataset.api_name]
        kinds = {column.name: column.kind for column in api.dataset.columns}
        postgres = self._engine.dialect.name == "postgresql"
        selected = [_as_tushare(table.c[name], kinds[name], postgres).label(name) for name in dict.fromkeys(columns)]
        query = sa.select(*selected)
        for name in names:
            param = api.params[name]
            column = table.c[param.column]
            if param.match == "from":
                query = query.where(column >= sa.bindparam(name, type_=column.type))
            elif param.match == "to":
                query = query.where(column <= sa.bindparam(name, type_=column.type))
            else:
                query = query.where(column.in_(sa.bindparam(name, expanding=True, type_=column.type)))
        if api.dataset.report_key and api.dataset.has_report_type:
            query = query.where(sa.not_(_superseded_latest(table, api.dataset)))
        query = query.order_by(*_order(api, table))
        if "offset" in paging:
            query = query.offset(paging["offset"])
        if "limit" in paging:
            query = query.limit(paging["limit"])
        if len(selected) < len(columns):  # a field asked for twice: select it once, repeat it in the frame
            return sa.select(*(sa.literal_column(f'"{name}"') for name in columns)).select_from(query.subquery())
        return query


def pro_api(db_url: str | None = None) -> ProApi:
    """The warehouse as a Tushare client: no token, no network (see the module doc)."""
    return ProApi(db_url)


def _read_engine(url: str) -> sa.Engine:
    """An engine that only reads: every session is read-only (set once per connection, not per query); a
    SQLite warehouse must exist and is read outside the writers' `BEGIN IMMEDIATE`, so reads never wait for a
    sync's write lock."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:") or not Path(parsed.database).is_file():
            raise ProApiError(f"no warehouse at {url}: sync one first (or pass db_url=...)")
        engine = sa.create_engine(parsed)
        settings_sql = ("PRAGMA query_only=ON", "PRAGMA busy_timeout=60000")
    else:
        engine = create_engine(url)
        settings_sql = ("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",)

    @sa.event.listens_for(engine, "connect")
    def _read_only(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        for statement in settings_sql:
            cursor.execute(statement)
        cursor.close()
        dbapi_connection.commit()  # PostgreSQL: a SET rolled back with its transaction would be undone

    return engine


def _given(api: Api, params: Mapping[str, Any]) -> dict[str, str]:
    """The call's parameters as the service reads them (None and "" are not given), defaults filled in."""
    given: dict[str, str] = dict(api.defaults)
    for name, value in params.items():
        if value is None or value == "":
            continue
        if name not in api.params and name not in PAGING:
            raise ProApiError(
                f"{api.dataset.api_name} has no parameter {name!r}; it takes {', '.join([*api.params, *PAGING])}"
            )
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise ProApiError(f"{name} should be a string (several values comma-joined), not {value!r}")
        given[name] = str(value).strip()
    for group in api.required:
        if not set(group) & given.keys():
            raise ProApiError(f"{' or '.join(group)} required (the Tushare service refuses the call without it)")
    for name, values in api.synced.items():
        unsynced = [value for value in given.get(name, "").split(",") if value and value not in values]
        if unsynced:
            raise ProApiError(
                f"{api.dataset.api_name} {name}={','.join(unsynced)} is not synced into the warehouse; "
                f"it holds {name} {', '.join(values)}"
            )
    return given


def _columns(api: Api, fields: str | Iterable[str]) -> list[str]:
    """The answer's columns: the requested fields in the requested order, or the default output."""
    names = str(fields or "").split(",") if isinstance(fields, str) or fields is None else list(fields)
    requested = [str(name).strip() for name in names if str(name).strip()]
    if not requested:
        return list(api.default_fields)
    unstored = [name for name in requested if name in api.unstored]
    if unstored:
        raise ProApiError(f"{api.dataset.api_name} field(s) {unstored} are Tushare's but not stored in the warehouse")
    unknown = [name for name in requested if name not in api.dataset.fields]
    if unknown:
        raise ProApiError(
            f"接口{api.dataset.api_name}不包含字段{','.join(unknown)} (the service would drop them silently); "
            f"fields: {','.join(api.dataset.fields)}"
        )
    return requested


def _as_tushare(column: sa.Column, kind: str, postgres: bool) -> sa.ColumnElement:
    """The column as Tushare sends it; dates as YYYYMMDD text, spelled by the database itself."""
    if kind != "date":
        return column
    if postgres:
        return sa.func.to_char(column, "YYYYMMDD", type_=sa.String)
    return sa.func.replace(sa.cast(column, sa.String), "-", "", type_=sa.String)  # SQLite holds YYYY-MM-DD


def _superseded_latest(table: sa.Table, dataset: TushareDataset) -> sa.ColumnElement[bool]:
    """A stored "latest statement" (report_type 1) that the company has since changed: Tushare then serves the
    changed numbers as type 1 and this version's numbers and dates as type 5 (调整前合并报表), so the type-1
    version stored before the change is no longer answered. It is the type-1 row with a type-5 twin equal in
    every field but the report type and `update_flag`."""
    original = table.alias("original")
    same_values = [
        original.c[name].is_not_distinct_from(table.c[name])
        for name in dataset.fields
        if name not in ("ts_code", "end_date", "report_type", versions.UPDATE_FLAG)
    ]
    twin = (
        sa.select(original.c.ts_code)
        .where(
            original.c.ts_code == table.c.ts_code,
            original.c.end_date == table.c.end_date,
            original.c.report_type == datasets.ORIGINAL_BEFORE_CHANGE,
            *same_values,
        )
        .exists()
    )
    return sa.and_(table.c.report_type == datasets.LATEST_STATEMENT, twin)


def _order(api: Api, table: sa.Table) -> list[sa.ColumnElement]:
    keys = []
    for name, descending in api.order:
        column = table.c[name]
        if name == "div_proc":
            rank = sa.case(*((column == stage, rank) for rank, stage in enumerate(DIVIDEND_STAGES)), else_=99)
            keys.append(rank.asc())
        else:
            keys.append(column.desc().nulls_last() if descending else column.asc().nulls_first())
    # Ties the service leaves in its own order end in explicit keys, so both databases agree: a statement's
    # versions in the order they were stored, other rows by their key (every field when keyless).
    ordered = {name for name, _ in api.order}
    if api.dataset.report_key:
        tie_breaks: tuple[str, ...] = (datasets.FIRST_SEEN_AT, datasets.VERSION_HASH)
    else:
        tie_breaks = api.dataset.key or api.dataset.fields
    return keys + [table.c[name].asc().nulls_first() for name in tie_breaks if name not in ordered]


def _date(name: str, text: str) -> date:
    try:
        return datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        raise ProApiError(f"{name} should be a YYYYMMDD date, not {text!r}") from None


def _typed(name: str, text: str, kind: str) -> object:
    if kind == "date":
        return _date(name, text)
    if kind == "int":
        try:
            return int(text)
        except ValueError:
            raise ProApiError(f"{name} should be an integer such as '0' or '1', not {text!r}") from None
    return text


def _count(name: str, text: str) -> int:
    if not text.isdigit():
        raise ProApiError(f"{name} should be a non-negative integer, not {text!r}")
    return int(text)
