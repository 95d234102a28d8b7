"""A Tushare-compatible HTTP server serving SYNTHETIC data, for tests and the offline demo.

It behaves like the real service as `tushare_double.model` describes it, and only from that description:
`POST <base>/<api_name>` and `POST /` with `{api_name, token, params, fields}`; every error is HTTP 200 with a
non-zero `code` and the real Chinese message; answers are sorted as the real ones and silently truncated at
each API's row cap (`has_more` says so, and offset/limit pages); per-token, per-API calls per minute are
limited in a sliding window that also counts rejected calls; a day's rows appear only after their publication
time. Switches in `ServerConfig` reproduce what the real service does that a client can get wrong (fields
dropped, `has_more` lying, `offset` ignored, restatements, ...), and faults (HTTP 5xx, resets, slow answers,
cut-off JSON, empty answers, busy messages) can be injected.

It only binds to loopback addresses. Admin endpoints under `/_admin/` change the clock, limits, caps and
switches of a running server and report what it served.
"""

import json
import random
import threading
import time
import uuid
import zlib
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np

from tushare_double.indexes import INDEX_BY_CODE, SyntheticIndexes
from tushare_double.model import (
    API_MODELS,
    CODE_BAD_PARAMS,
    CODE_BAD_TOKEN,
    CODE_REFUSED,
    CODE_SERVER_BUSY,
    CODE_UNKNOWN_API,
    COUNT_2026,
    MSG_BAD_TOKEN,
    MSG_NO_PERMISSION,
    MSG_PARAM_REQUIRED,
    MSG_SERVER_BUSY,
    MSG_UNKNOWN_API,
    RATE_LIMIT_MESSAGES,
    STATEMENT_APIS,
    TIER_CALLS_PER_MINUTE,
    ApiModel,
)
from tushare_double.synthetic import StatementQuirks, SyntheticMarket, SyntheticStatements

SHANGHAI = ZoneInfo("Asia/Shanghai")
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
# Faults that a retry can get past; "drop_field" and "wrong_type" (malformed answers) can be scripted too.
FAULT_KINDS = ("http_500", "http_503", "reset", "slow", "truncated_json", "empty", "server_busy", "rate_limited")


@dataclass
class ServerConfig:
    tokens: dict[str, int] = field(default_factory=lambda: {"synthetic-demo-token": 5000})
    n_stocks: int = 5000
    seed: int = 20240101
    # A fixed "now" (ISO, Asia/Shanghai if naive) or None for the wall clock.
    now: str | None = None
    # Calls per minute per API; None = by the token's points tier, 0 = unlimited.
    rate_limits: dict[str, int] = field(default_factory=dict)
    rate_limit_default: int | None = None
    rate_window_seconds: float = 60.0
    # Rows per call per API instead of the model's cap (the service has lowered caps before).
    row_caps: dict[str, int] = field(default_factory=dict)
    # Scripted faults: [{"api": "daily" | "*", "kind": K, "times": n}] consumed in order.
    faults: list[dict[str, Any]] = field(default_factory=list)
    # Random faults: {"rate": p, "kinds": [...], "seed": s, "apis": [...]} on every call.
    random_faults: dict[str, Any] = field(default_factory=dict)
    slow_seconds: float = 3.0
    # Stocks whose statement calls always fail, and how: {"000001.SZ": "server_busy" | "http_500" | ...}.
    failing_stocks: dict[str, str] = field(default_factory=dict)
    # -- switches reproducing the real service; API lists take "*" for every API --------------------------------
    # Fields missing from an API's answers even when asked for (retired fields are dropped silently).
    drop_fields: dict[str, list[str]] = field(default_factory=dict)
    # APIs whose truncated answers say has_more: false.
    lie_has_more: list[str] = field(default_factory=list)
    # APIs whose has_more is true whenever a page is full, even when nothing follows (OA measured this in 2026).
    has_more_when_full: list[str] = field(default_factory=list)
    # APIs that ignore `offset`: every call answers the first page.
    ignore_offset: list[str] = field(default_factory=list)
    # APIs whose whole-market answers (no ts_code asked) are not sorted by ts_code (a deterministic shuffle).
    unsorted: list[str] = field(default_factory=list)
    # APIs whose answers never carry update_flag, even when asked for (recorded fina_indicator answers).
    omit_update_flag: list[str] = field(default_factory=list)
    # Statements: restated reports with report_type 1 (restated), 5 (original) and 4 (restated comparative).
    restatements: bool = False
    # Statements: corrections sharing the original's dates, visible `correction_lag_days` after the original.
    same_date_corrections: bool = False
    correction_lag_days: int = 30
    # Statements: some versions' f_ann_date months after their ann_date.
    f_ann_after_ann: bool = False
    # income/balancesheet/cashflow calls with several comma-joined ts_codes answer nothing (as the real ones do).
    multi_code_statements_empty: bool = True
    # trade_cal answers the whole range in one call, whatever the cap (as in 2026).
    trade_cal_uncapped: bool = False
    # Dashed request_id, data.count and a top-level detail.
    envelope_2026: bool = False
    rate_limit_wording: Literal["classic", "2026"] = "classic"
    # Calls per API per server day; past it the per-day quota answer.
    daily_quotas: dict[str, int] = field(default_factory=dict)

    def quirks(self) -> StatementQuirks:
        return StatementQuirks(
            self.restatements, self.same_date_corrections, self.correction_lag_days, self.f_ann_after_ann
        )


def _applies(apis: list[str], api_name: str) -> bool:
    return "*" in apis or api_name in apis


class _ApiError(Exception):
    def __init__(self, code: int, msg: str):
        super().__init__(msg)
        self.code, self.msg = code, msg


class _LazyRows:
    """Sorted report versions whose field values are generated only for the page served."""

    def __init__(self, versions: list[dict], materialize):
        self._versions, self._materialize = versions, materialize

    def __len__(self) -> int:
        return len(self._versions)

    def __getitem__(self, page: slice) -> list[dict]:
        return self._materialize(self._versions[page])


class TushareStandIn:
    """The server's state and request handling, independent of the HTTP plumbing."""

    def __init__(self, config: ServerConfig):
        self.config = config
        self.market = SyntheticMarket(config.n_stocks, config.seed)
        self.statements = SyntheticStatements(self.market)
        self.indexes = SyntheticIndexes(self.market)
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], deque] = {}
        self._day_calls: Counter = Counter()
        self._random = random.Random(config.random_faults.get("seed", 0))
        self.stats: dict[str, Counter] = {
            "calls": Counter(),
            "rejected": Counter(),
            "faults": Counter(),
            "rows": Counter(),
        }
        self.calls_log: list[tuple[float, str, str]] = []  # (time, api, outcome)

    # -- configuration -------------------------------------------------------------------------------

    def update(self, changes: dict[str, Any]) -> None:
        with self._lock:
            for key, value in changes.items():
                if not hasattr(self.config, key):
                    raise ValueError(f"unknown server setting {key!r}")
                setattr(self.config, key, value)
            if "random_faults" in changes:
                self._random = random.Random(self.config.random_faults.get("seed", 0))
            if "rate_limits" in changes or "rate_limit_default" in changes:
                self._windows.clear()
            if "daily_quotas" in changes:
                self._day_calls.clear()

    def now(self) -> datetime:
        if self.config.now:
            fixed = datetime.fromisoformat(self.config.now)
            return fixed if fixed.tzinfo else fixed.replace(tzinfo=SHANGHAI)
        return datetime.now(SHANGHAI)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {name: dict(counter) for name, counter in self.stats.items()} | {"calls_log": list(self.calls_log)}

    # -- request handling ----------------------------------------------------------------------------

    def choose_fault(self, api_name: str, body: dict[str, Any]) -> str | None:
        codes = str((body.get("params") or {}).get("ts_code") or "").split(",")
        failing = [self.config.failing_stocks[code] for code in codes if code in self.config.failing_stocks]
        if failing and api_name in STATEMENT_APIS:
            with self._lock:
                self.stats["faults"][f"stock_{failing[0]}"] += 1
            return failing[0]
        with self._lock:
            for rule in self.config.faults:
                if rule.get("times", 1) > 0 and rule.get("api", "*") in ("*", api_name):
                    rule["times"] = rule.get("times", 1) - 1
                    self.stats["faults"][rule["kind"]] += 1
                    return rule["kind"]
            chaos = self.config.random_faults
            if chaos and api_name in chaos.get("apis", [api_name]) and self._random.random() < chaos.get("rate", 0):
                kind = self._random.choice(chaos.get("kinds", FAULT_KINDS))
                self.stats["faults"][kind] += 1
                return kind
        return None

    def answer(self, api_name: str, body: dict[str, Any]) -> dict[str, Any]:
        """The JSON envelope for one call (errors included), after auth and rate limiting."""
        token = body.get("token") or ""
        if token not in self.config.tokens:
            return self.error(CODE_BAD_TOKEN, MSG_BAD_TOKEN, api_name, "bad_token")
        if api_name not in API_MODELS:
            return self.error(CODE_UNKNOWN_API, MSG_UNKNOWN_API, api_name, "unknown_api")
        model = API_MODELS[api_name]
        points = self.config.tokens[token]
        if points < model.min_points:
            return self.error(CODE_REFUSED, MSG_NO_PERMISSION.format(api=api_name), api_name, "no_permission")
        quota = self.config.daily_quotas.get(api_name)
        if quota is not None and not self._admit_today(token, api_name, quota):
            return self.error(CODE_REFUSED, self.rate_limit_message(api_name, quota, "day"), api_name, "over_quota")
        limit = self.limit(api_name, points)
        if limit and not self._admit(token, api_name, limit):
            message = self.rate_limit_message(api_name, limit, "minute")
            return self.error(CODE_REFUSED, message, api_name, "rate_limited")
        # null and "" mean "not given"; unknown parameters are ignored (the SDK always adds ts_type_name).
        params = {key: value for key, value in (body.get("params") or {}).items() if value not in (None, "")}
        fields = self.answer_fields(model, body.get("fields"))
        try:
            rows = self._rows(model, params)
        except _ApiError as error:
            return self.error(error.code, error.msg, api_name, "bad_request")
        page, has_more = self._page(model, params, rows)
        with self._lock:
            self.stats["calls"][api_name] += 1
            self.stats["rows"][api_name] += len(page)
            self.calls_log.append((time.time(), api_name, "ok"))
        return self._ok(fields, [[row.get(name) for name in fields] for row in page], has_more)

    def _page(self, model: ApiModel, params: dict[str, Any], rows) -> tuple[list[dict], bool]:
        config = self.config
        cap = config.row_caps.get(model.name, model.row_cap)
        if model.name == "trade_cal" and config.trade_cal_uncapped:
            cap = max(cap, len(rows))
        size = min(int(params.get("limit") or cap), cap)
        offset = 0 if _applies(config.ignore_offset, model.name) else int(params.get("offset", 0) or 0)
        page = rows[offset : offset + size]
        has_more = offset + len(page) < len(rows)
        if _applies(config.has_more_when_full, model.name):
            has_more = len(page) == size
        if _applies(config.lie_has_more, model.name):
            has_more = False
        return page, has_more

    def limit(self, api_name: str, points: int) -> int:
        """Calls per minute this API allows a token with `points`; 0 means unlimited."""
        if api_name in self.config.rate_limits:
            return self.config.rate_limits[api_name]
        if self.config.rate_limit_default is not None:
            return self.config.rate_limit_default
        return next(calls for tier, calls in TIER_CALLS_PER_MINUTE if points >= tier)

    def rate_limit_message(self, api_name: str, limit: int, window: str) -> str:
        return RATE_LIMIT_MESSAGES[(self.config.rate_limit_wording, window)].format(api=api_name, limit=limit)

    def _admit(self, token: str, api_name: str, limit: int) -> bool:
        # A sliding minute that counts rejected calls too: hammering a limit keeps you locked out.
        with self._lock:
            window = self._windows.setdefault((token, api_name), deque())
            now = time.monotonic()
            while window and window[0] <= now - self.config.rate_window_seconds:
                window.popleft()
            window.append(now)
            return len(window) <= limit

    def _admit_today(self, token: str, api_name: str, quota: int) -> bool:
        with self._lock:
            key = (token, api_name, self.now().date())
            self._day_calls[key] += 1
            return self._day_calls[key] <= quota

    def error(self, code: int, msg: str, api_name: str, outcome: str) -> dict[str, Any]:
        """An error envelope (sent with HTTP 200), counted under `outcome`."""
        with self._lock:
            self.stats["rejected"][outcome] += 1
            self.calls_log.append((time.time(), api_name, outcome))
        return self.envelope(code, msg, None)

    def _ok(self, fields, items, has_more: bool) -> dict[str, Any]:
        data = {"fields": list(fields), "items": items, "has_more": has_more}
        if self.config.envelope_2026:
            data["count"] = COUNT_2026
        return self.envelope(0, "", data)

    def envelope(self, code: int, msg: str, data: dict[str, Any] | None) -> dict[str, Any]:
        if self.config.envelope_2026:
            return {"request_id": str(uuid.uuid4()), "code": code, "msg": msg, "detail": "", "data": data}
        return {"request_id": _classic_request_id(), "code": code, "msg": msg, "data": data, "synthetic": True}

    def empty_answer(self, api_name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._ok(self.answer_fields(API_MODELS[api_name], body.get("fields")), [], False)

    def answer_fields(self, model: ApiModel, fields: Any) -> tuple[str, ...]:
        """The answer's columns: the requested known fields (`fields` a comma string or a JSON list; unknown
        names dropped silently, as in 2025-26), or the default ones; less the fields switched off."""
        names = fields if isinstance(fields, list) else str(fields or "").split(",")
        requested = [str(name).strip() for name in names if str(name).strip()]
        chosen = [name for name in requested if name in model.field_names] if requested else model.default_field_names
        dropped = set(self.config.drop_fields.get(model.name, [])) | set(self.config.drop_fields.get("*", []))
        if _applies(self.config.omit_update_flag, model.name):
            dropped.add("update_flag")
        return tuple(name for name in chosen if name not in dropped)

    # -- data ----------------------------------------------------------------------------------------

    def _rows(self, model: ApiModel, params: dict[str, Any]):
        for group in model.required_params:
            if not set(group) & params.keys():
                raise _ApiError(CODE_BAD_PARAMS, MSG_PARAM_REQUIRED.format(param=" or ".join(group)))
        if model.name in STATEMENT_APIS:
            return self._statements(model, params)
        rows = {
            "trade_cal": self._trade_cal,
            "stock_basic": self._stock_basic,
            "disclosure_date": self._disclosure_date,
            "namechange": self._namechange,
            "dividend": self._dividend,
            "index_basic": self._index_basic,
            "index_daily": self._index_daily,
            "index_weight": self._index_weight,
            "index_classify": self._index_classify,
            "index_member_all": self._index_member_all,
        }.get(model.name, self._market)(model, params)
        return self._sorted(model, rows, whole_market="ts_code" not in params)

    def _sorted(self, model: ApiModel, rows: list[dict], whole_market: bool) -> list[dict]:
        """Rows in the model's order; with `unsorted`, whole-market rows are shuffled within the other keys."""
        shuffle = whole_market and _applies(self.config.unsorted, model.name)
        for name, descending in reversed(model.order):  # stable sorts, least significant key first
            if name == "ts_code" and shuffle:
                rows.sort(key=lambda row: zlib.crc32(f"{self.config.seed}:{row['ts_code']}".encode()))
            else:
                rows.sort(key=lambda row, name=name: row[name] or "", reverse=descending)
        return rows

    def _is_public(self, model: ApiModel, day: date) -> bool:
        """Whether rows of `day` (a trading day, or an announcement day) are served by now."""
        if model.published_at is None:
            return True
        published = datetime.combine(day + timedelta(days=model.published_days_after), model.published_at, SHANGHAI)
        return self.now() >= published

    @staticmethod
    def _in_history(model: ApiModel, value: str) -> bool:
        return model.history_start is None or value >= model.history_start.strftime("%Y%m%d")

    def _statements(self, model: ApiModel, params) -> _LazyRows:
        codes = str(params["ts_code"]).split(",") if "ts_code" in params else None
        if codes and len(codes) > 1 and model.multi_code_answers_empty and self.config.multi_code_statements_empty:
            return _LazyRows([], list)
        index = self.statements.code_index
        stocks = [index[code] for code in codes if code in index] if codes else self.market.index.tolist()
        wanted = {name: str(params[name]) for name in ("ann_date", "f_ann_date", "comp_type") if name in params}
        wanted["report_type"] = str(params.get("report_type", "1"))  # "1" when not asked (XZ, DOC-33)
        if "period" in params:
            wanted["end_date"] = str(params["period"])
        start, end = str(params.get("start_date", "00000000")), str(params.get("end_date", "99999999"))
        today, quirks = self.now().date(), self.config.quirks()
        versions = [
            version
            for stock in stocks
            for version in self.statements.reports(stock, today, lambda day: self._is_public(model, day), quirks)
            if all(version[name] == value for name, value in wanted.items())
            and start <= version[model.date_filter] <= end
            and self._in_history(model, version[model.history_field])
        ]
        versions = self._sorted(model, versions, whole_market=codes is None)
        return _LazyRows(versions, lambda page: self.statements.rows(model.name, model.field_names, page))

    def _disclosure_date(self, model: ApiModel, params) -> list[dict[str, Any]]:
        period = datetime.strptime(str(params["end_date"]), "%Y%m%d").date()
        rows = self.statements.disclosures(period, self.now().date())
        if "ts_code" in params:
            rows = [row for row in rows if row["ts_code"] in str(params["ts_code"]).split(",")]
        return rows

    def _trade_cal(self, model: ApiModel, params) -> list[dict[str, Any]]:
        calendar = self.market.calendar
        start, end = str(params.get("start_date", "00000000")), str(params.get("end_date", "99999999"))
        wanted_open = params.get("is_open")
        rows, previous_open = [], None
        for day, is_open in zip(calendar.days, calendar.is_open, strict=True):
            key = day.strftime("%Y%m%d")
            wanted = wanted_open is None or str(int(is_open)) == str(wanted_open)
            if start <= key <= end and wanted and self._in_history(model, key):
                row = {"exchange": params.get("exchange", "SSE"), "cal_date": key, "is_open": int(is_open)}
                rows.append(row | {"pretrade_date": previous_open})
            if is_open:
                previous_open = key
        return rows

    def _stock_basic(self, model: ApiModel, params) -> list[dict[str, Any]]:
        # list_status takes several comma-joined statuses ("L,D" answers the union: OA, 2026).
        statuses = set(str(params.get("list_status", "L")).split(","))
        rows = [row for row in self.market.stocks(self.now().date()) if row["list_status"] in statuses]
        for name in ("ts_code", "exchange", "market"):
            if name in params:
                wanted = set(str(params[name]).split(","))
                rows = [row for row in rows if row[name] in wanted]
        return rows

    # -- the datasets of issue 10 --------------------------------------------------------------------

    def _stocks(self, params) -> list[int]:
        """The stocks a `ts_code` parameter (comma-joined codes) names, or every stock."""
        if "ts_code" not in params:
            return self.market.index.tolist()
        index = self.statements.code_index
        return [index[code] for code in str(params["ts_code"]).split(",") if code in index]

    def _public_day(self, model: ApiModel, t: int) -> bool:
        return self._is_public(model, self.market.calendar.open_days[t])

    @staticmethod
    def _matching(rows: list[dict], params, names: tuple[str, ...]) -> list[dict]:
        """Rows whose fields equal the given parameters (comma-joined values for any of several)."""
        for name in names:
            if name in params:
                wanted = set(str(params[name]).split(","))
                rows = [row for row in rows if row.get(name) in wanted]
        return rows

    def _open_days(self, model: ApiModel, params) -> list[int]:
        """Trading day indexes within trade_date or start_date/end_date, in the history, published by now."""
        start, end = str(params.get("start_date", "00000000")), str(params.get("end_date", "99999999"))
        if "trade_date" in params:
            start = end = str(params["trade_date"])
        return [
            t
            for t, day in enumerate(self.market.calendar.open_days)
            if start <= (key := day.strftime("%Y%m%d")) <= end
            and self._in_history(model, key)
            and self._is_public(model, day)
        ]

    def _namechange(self, model: ApiModel, params) -> list[dict[str, Any]]:
        rows = [
            row
            for stock in self._stocks(params)
            for row in self.market.namechanges(stock, lambda t: self._public_day(model, t))
        ]
        if "start_date" in params or "end_date" in params:  # the filter is on ann_date and drops rows without one
            start, end = str(params.get("start_date", "00000000")), str(params.get("end_date", "99999999"))
            rows = [row for row in rows if row["ann_date"] is not None and start <= row["ann_date"] <= end]
        return rows

    def _dividend(self, model: ApiModel, params) -> list[dict[str, Any]]:
        rows = [
            row
            for stock in self._stocks(params)
            for row in self.market.dividends(stock)
            if self._public_day(model, row["visible_from"])
        ]
        return self._matching(rows, params, ("ann_date", "record_date", "ex_date", "imp_ann_date", "end_date"))

    def _index_basic(self, model: ApiModel, params) -> list[dict[str, Any]]:
        # No market given answers every market: DOC-94 once said "默认SSE", but the 2026 doc (XZ-index_basic) drops it
        # and a 2023 user read ~10,000 indexes from index_basic() without parameters.
        return self._matching(self.indexes.basics(), params, ("ts_code", "name", "market", "publisher", "category"))

    def _index_daily(self, model: ApiModel, params) -> list[dict[str, Any]]:
        # One index per call: several comma-joined codes are undocumented and answer nothing here.
        spec = INDEX_BY_CODE.get(str(params["ts_code"]))
        if spec is None:  # SW and unknown codes: "本接口不包含申万行业指数行情数据" (DOC-95)
            return []
        return self.indexes.daily(spec, self._open_days(model, params))

    def _index_weight(self, model: ApiModel, params) -> list[dict[str, Any]]:
        spec = INDEX_BY_CODE.get(str(params["index_code"]))
        if spec is None:
            return []
        days = self._open_days(model, params)
        return self.indexes.weights(spec, days[0], days[-1]) if days else []

    def _index_classify(self, model: ApiModel, params) -> list[dict[str, Any]]:
        # src defaults to SW2014 (the DOC-181 sample answers SW2014 names; the examples pass src='SW2021').
        wanted = {"src": "SW2014"} | params
        return self._matching(self.indexes.classification, wanted, ("index_code", "level", "parent_code", "src"))

    def _index_member_all(self, model: ApiModel, params) -> list[dict[str, Any]]:
        # is_new defaults to "Y" (DOC-335): without it only the current memberships are answered.
        wanted = {"is_new": "Y"} | params
        rows = self.indexes.members_all(self.now().date())
        return self._matching(rows, wanted, ("l1_code", "l2_code", "l3_code", "ts_code", "is_new"))

    def _market(self, model: ApiModel, params) -> list[dict[str, Any]]:
        market = self.market
        stocks = market.index
        if "ts_code" in params:
            stocks = market.index[np.isin(market.ts_code, str(params["ts_code"]).split(","))]
        start, end = str(params.get("start_date", "00000000")), str(params.get("end_date", "99999999"))
        if "trade_date" in params:
            start = end = str(params["trade_date"])
        days = [
            day
            for day in market.calendar.open_days
            if start <= (key := day.strftime("%Y%m%d")) <= end
            and self._in_history(model, key)
            and self._is_public(model, day)
        ]
        generate = getattr(market, model.name)
        rows: list[dict[str, Any]] = []
        for day in days:
            columns = generate(market.day_index(day), stocks)
            names = list(columns)
            for values in zip(*(_to_list(columns[name]) for name in names), strict=True):
                rows.append(dict(zip(names, values, strict=True)) | {"trade_date": day.strftime("%Y%m%d")})
        return self._matching(rows, params, ("suspend_type",)) if model.name == "suspend_d" else rows


def _to_list(values: np.ndarray) -> list:
    if values.dtype.kind == "f":
        return [None if v != v else v for v in values.tolist()]  # NaN -> null, as Tushare sends
    return values.tolist()


def _corrupt(data: dict[str, Any], fault: str) -> None:
    """Malformed answers: the last field missing, or the last column's numbers sent as text."""
    if fault == "drop_field":
        data["fields"] = data["fields"][:-1]
        data["items"] = [item[:-1] for item in data["items"]]
    else:
        data["items"] = [[*item[:-1], None if item[-1] is None else str(item[-1])] for item in data["items"]]


def _classic_request_id() -> str:
    # 32 hex digits of a uuid1 and 16 digits of epoch microseconds (REF §1.3).
    return uuid.uuid1().hex + str(time.time_ns() // 1000)[-16:]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    stand_in: TushareStandIn

    def log_message(self, format, *args):  # noqa: A002 - quiet: tests and benchmarks read stdout
        pass

    def do_GET(self):
        if self.path == "/_admin/stats":
            self._send_json(200, self.stand_in.snapshot())
        elif self.path == "/_admin/health":
            self._send_json(200, {"ok": True, "synthetic": True})
        else:
            self._send_json(404, {"error": "not found"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.startswith("/_admin/"):
            return self._admin(raw)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return self._send_json(200, self.stand_in.envelope(CODE_BAD_PARAMS, "请求格式错误", None))
        api_name = str(body.get("api_name") or self.path.rstrip("/").rsplit("/", 1)[-1])
        fault = self.stand_in.choose_fault(api_name, body)
        if fault == "http_500":
            return self._send_raw(500, b"<html><body>500 Internal Server Error</body></html>", "text/html")
        if fault == "http_503":
            return self._send_raw(503, b"<html><body>503 Service Temporarily Unavailable</body></html>", "text/html")
        if fault == "reset":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if fault == "slow":
            time.sleep(self.stand_in.config.slow_seconds)
        if fault == "server_busy":
            return self._send_json(200, self.stand_in.error(CODE_SERVER_BUSY, MSG_SERVER_BUSY, api_name, fault))
        if fault == "rate_limited":
            message = self.stand_in.rate_limit_message(api_name, self.stand_in.limit(api_name, 2000), "minute")
            return self._send_json(200, self.stand_in.error(CODE_REFUSED, message, api_name, fault))
        if fault == "empty":
            return self._send_json(200, self.stand_in.empty_answer(api_name, body))
        answer = self.stand_in.answer(api_name, body)
        if fault in ("drop_field", "wrong_type") and answer.get("data") and answer["data"]["items"]:
            _corrupt(answer["data"], fault)
        payload = json.dumps(answer).encode()
        if fault == "truncated_json":
            payload = payload[: max(1, len(payload) // 2)]
        self._send_raw(200, payload, "application/json")

    def _admin(self, raw: bytes):
        if self.path == "/_admin/config":
            try:
                self.stand_in.update(json.loads(raw or b"{}"))
            except (ValueError, TypeError) as error:
                return self._send_json(400, {"error": str(error)})
            return self._send_json(200, {"ok": True})
        self._send_json(404, {"error": "not found"})

    def _send_json(self, status: int, body: Any):
        self._send_raw(status, json.dumps(body).encode(), "application/json")

    def _send_raw(self, status: int, payload: bytes, content_type: str):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def make_server(config: ServerConfig, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    if host not in LOOPBACK_HOSTS:
        raise ValueError(f"the synthetic Tushare server only binds to loopback addresses, not {host!r}")
    stand_in = TushareStandIn(config)
    handler = type("TushareHandler", (_Handler,), {"stand_in": stand_in})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    server.stand_in = stand_in  # type: ignore[attr-defined]
    return server
