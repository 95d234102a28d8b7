"""A Tushare-compatible HTTP server serving SYNTHETIC data, for tests and the offline demo.

It behaves like the real service where a sync can go wrong: `POST <base>/<api_name>` and `POST /` with
`{api_name, token, params, fields}`; every error is HTTP 200 with a non-zero `code` and the real Chinese
message; answers are sorted newest first and silently truncated at each API's row cap (`has_more` says
so, and offset/limit pages); per-token, per-API calls per minute are limited in a sliding window that
also counts rejected calls; a trading day's rows appear only after their publication time; and faults
(HTTP 5xx, resets, slow answers, cut-off JSON, empty answers, busy messages) can be injected.

It only binds to loopback addresses. Admin endpoints under `/_admin/` change the clock, limits, caps and
faults of a running server and report what it served.
"""

import json
import random
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from stock_pipeline.datasets import (
    ADJ_FACTOR,
    DAILY,
    DAILY_BASIC,
    DATASETS_BY_API,
    DISCLOSURE_DATE,
    STATEMENT_DATASETS,
    STOCK_BASIC,
    TRADE_CAL,
)
from tushare_double.synthetic import SyntheticMarket, SyntheticStatements

SHANGHAI = ZoneInfo("Asia/Shanghai")
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
DOC_LINK = "https://tushare.pro/document/1?doc_id=108"

MSG_BAD_TOKEN = "您的token不对，请确认。"
MSG_NO_PERMISSION = f"抱歉，您没有接口({{api}})访问权限，权限的具体详情访问：{DOC_LINK}。"
MSG_RATE_LIMIT = f"抱歉，您每分钟最多访问该接口{{limit}}次，权限的具体详情访问：{DOC_LINK}。"
MSG_UNKNOWN_API = "请指定正确的接口名"
MSG_SERVER_BUSY = "服务器错误(数据库异常)，请稍后再试！期待您能把错误反馈给我们，谢谢！"

# Points an API needs, calls per minute per points tier (tushare.pro document 108 and 290).
MIN_POINTS = {
    "daily": 120,
    "adj_factor": 2000,
    "daily_basic": 2000,
    "stock_basic": 2000,
    "trade_cal": 2000,
    "disclosure_date": 2000,
}
MIN_POINTS |= {dataset.api_name: 2000 for dataset in STATEMENT_DATASETS}
MIN_POINTS |= {dataset.vip_api_name: 5000 for dataset in STATEMENT_DATASETS}
VIP_ROW_CAP = 5000
API_DATASETS = DATASETS_BY_API | {dataset.vip_api_name: dataset for dataset in STATEMENT_DATASETS}
TIER_CALLS_PER_MINUTE = ((10000, 1000), (5000, 500), (2000, 200), (120, 50))
DEFAULT_FIELDS = {
    "stock_basic": (
        "ts_code",
        "symbol",
        "name",
        "area",
        "industry",
        "cnspell",
        "market",
        "list_date",
        "act_name",
        "act_ent_type",
    ),
}
PUBLISHED_AT = {dataset.api_name: dataset.published_at for dataset in (DAILY, ADJ_FACTOR, DAILY_BASIC)}
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
    row_caps: dict[str, int] = field(default_factory=dict)
    # Scripted faults: [{"api": "daily" | "*", "kind": K, "times": n}] consumed in order.
    faults: list[dict[str, Any]] = field(default_factory=list)
    # Random faults: {"rate": p, "kinds": [...], "seed": s, "apis": [...]} on every call.
    random_faults: dict[str, Any] = field(default_factory=dict)
    slow_seconds: float = 3.0
    # Stocks whose statement calls always fail, and how: {"000001.SZ": "server_busy" | "http_500" | ...}.
    failing_stocks: dict[str, str] = field(default_factory=dict)


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
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], deque] = {}
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
        if failing and api_name in API_DATASETS and API_DATASETS[api_name] in STATEMENT_DATASETS:
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
            return self.error(40101, MSG_BAD_TOKEN, api_name, "bad_token")
        if api_name not in API_DATASETS:
            return self.error(-1, MSG_UNKNOWN_API, api_name, "unknown_api")
        points = self.config.tokens[token]
        if points < MIN_POINTS[api_name]:
            return self.error(40203, MSG_NO_PERMISSION.format(api=api_name), api_name, "no_permission")
        limit = self.limit(api_name, points)
        if limit and not self._admit(token, api_name, limit):
            return self.error(40203, MSG_RATE_LIMIT.format(limit=limit), api_name, "rate_limited")
        params = {key: value for key, value in (body.get("params") or {}).items() if value not in (None, "")}
        fields = _parse_fields(body.get("fields"), api_name)
        try:
            rows = self._rows(api_name, params)
        except _ApiError as error:
            return self.error(error.code, error.msg, api_name, "bad_request")
        offset = int(params.get("offset", 0) or 0)
        default_cap = VIP_ROW_CAP if api_name.endswith("_vip") else API_DATASETS[api_name].row_cap
        cap = self.config.row_caps.get(api_name, default_cap)
        size = min(int(params.get("limit") or cap), cap)
        page = rows[offset : offset + size]
        has_more = offset + len(page) < len(rows)
        with self._lock:
            self.stats["calls"][api_name] += 1
            self.stats["rows"][api_name] += len(page)
            self.calls_log.append((time.time(), api_name, "ok"))
        return self._ok(fields, [[row.get(name) for name in fields] for row in page], has_more)

    def limit(self, api_name: str, points: int) -> int:
        """Calls per minute this API allows a token with `points`; 0 means unlimited."""
        if api_name in self.config.rate_limits:
            return self.config.rate_limits[api_name]
        if self.config.rate_limit_default is not None:
            return self.config.rate_limit_default
        return next(calls for tier, calls in TIER_CALLS_PER_MINUTE if points >= tier)

    def _admit(self, token: str, api_name: str, limit: int) -> bool:
        # A sliding minute that counts rejected calls too: hammering a limit keeps you locked out.
        with self._lock:
            window = self._windows.setdefault((token, api_name), deque())
            now = time.monotonic()
            while window and window[0] <= now - self.config.rate_window_seconds:
                window.popleft()
            window.append(now)
            return len(window) <= limit

    def error(self, code: int, msg: str, api_name: str, outcome: str) -> dict[str, Any]:
        """An error envelope (sent with HTTP 200), counted under `outcome`."""
        with self._lock:
            self.stats["rejected"][outcome] += 1
            self.calls_log.append((time.time(), api_name, outcome))
        return {"request_id": _request_id(), "code": code, "msg": msg, "data": None, "synthetic": True}

    def _ok(self, fields, items, has_more: bool) -> dict[str, Any]:
        return {
            "request_id": _request_id(),
            "code": 0,
            "msg": "",
            "synthetic": True,
            "data": {"fields": list(fields), "items": items, "has_more": has_more},
        }

    def empty_answer(self, api_name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._ok(_parse_fields(body.get("fields"), api_name), [], False)

    # -- data ----------------------------------------------------------------------------------------

    def _rows(self, api_name: str, params: dict[str, Any]):
        if api_name == TRADE_CAL.api_name:
            return self._trade_cal(params)
        if api_name == STOCK_BASIC.api_name:
            return self._stock_basic(params)
        if api_name == DISCLOSURE_DATE.api_name:
            return self._disclosure_date(params)
        if API_DATASETS[api_name] in STATEMENT_DATASETS:
            return self._statements(api_name, params)
        return self._market(api_name, params)

    def _statements(self, api_name: str, params) -> _LazyRows:
        dataset = API_DATASETS[api_name]
        vip = api_name == dataset.vip_api_name
        if not vip and "ts_code" not in params:
            raise _ApiError(40101, "ts_code required")
        if vip and not ({"ts_code", "period"} & params.keys()):
            raise _ApiError(40101, "period required")
        today = self.now().date()
        codes = str(params["ts_code"]).split(",") if "ts_code" in params else None
        stocks = (
            [self.statements.code_index[c] for c in codes if c in self.statements.code_index]
            if codes
            else (self.market.index.tolist())
        )
        by_period = dataset.date_filter == "end_date"
        start, end = params.get("start_date", "00000000"), params.get("end_date", "99999999")
        versions = []
        for stock in stocks:
            for version in self.statements.reports(stock, today):
                period, announced = version["end"].strftime("%Y%m%d"), version["ann"].strftime("%Y%m%d")
                if "period" in params and period != params["period"]:
                    continue
                if "ann_date" in params and announced != params["ann_date"]:
                    continue
                if params.get("report_type", "1") != "1" or not start <= (period if by_period else announced) <= end:
                    continue
                versions.append(version)
        versions.sort(key=lambda v: (v["end"], v["ann"], -v["stock"]), reverse=True)  # newest first
        return _LazyRows(versions, lambda page: self.statements.rows(dataset.fields, page))

    def _disclosure_date(self, params) -> list[dict[str, Any]]:
        if "end_date" not in params:
            raise _ApiError(40101, "end_date required")
        period = datetime.strptime(str(params["end_date"]), "%Y%m%d").date()
        rows = self.statements.disclosures(period, self.now().date())
        if "ts_code" in params:
            rows = [row for row in rows if row["ts_code"] in str(params["ts_code"]).split(",")]
        return sorted(rows, key=lambda row: (row["pre_date"], row["ts_code"]))

    def _trade_cal(self, params) -> list[dict[str, Any]]:
        calendar = self.market.calendar
        start, end = params.get("start_date", "00000000"), params.get("end_date", "99999999")
        wanted_open = params.get("is_open")
        rows, previous_open = [], None
        for day, is_open in zip(calendar.days, calendar.is_open, strict=True):
            key = day.strftime("%Y%m%d")
            if start <= key <= end and (wanted_open is None or str(int(is_open)) == str(wanted_open)):
                rows.append(
                    {
                        "exchange": params.get("exchange", "SSE"),
                        "cal_date": key,
                        "is_open": int(is_open),
                        "pretrade_date": previous_open,
                    }
                )
            if is_open:
                previous_open = key
        return rows[::-1]  # newest first, as the real service has answered since 2023

    def _stock_basic(self, params) -> list[dict[str, Any]]:
        status = params.get("list_status", "L")
        rows = [row for row in self.market.stocks(self.now().date()) if row["list_status"] == status]
        for name in ("ts_code", "exchange", "market"):
            if name in params:
                wanted = set(str(params[name]).split(","))
                rows = [row for row in rows if row[name] in wanted]
        return rows

    def _market(self, api_name: str, params) -> list[dict[str, Any]]:
        if api_name == DAILY_BASIC.api_name and not ({"ts_code", "trade_date"} & params.keys()):
            return []
        market = self.market
        stocks = market.index
        if "ts_code" in params:
            wanted = set(str(params["ts_code"]).split(","))
            stocks = market.index[np.isin(market.ts_code, list(wanted))]
        if "trade_date" in params:
            days = [d for d in market.calendar.open_days if d.strftime("%Y%m%d") == params["trade_date"]]
        else:
            start, end = params.get("start_date", "00000000"), params.get("end_date", "99999999")
            days = [d for d in market.calendar.open_days if start <= d.strftime("%Y%m%d") <= end]
        published = [day for day in days if self._is_published(api_name, day)]
        generate = getattr(market, api_name)
        rows: list[dict[str, Any]] = []
        for day in sorted(published, reverse=True):  # newest first, then by ts_code
            columns = generate(market.day_index(day), stocks)
            key = day.strftime("%Y%m%d")
            names = list(columns)
            for values in zip(*(_to_list(columns[name]) for name in names), strict=True):
                row = dict(zip(names, values, strict=True))
                row["trade_date"] = key
                rows.append(row)
        return rows

    def _is_published(self, api_name: str, day: date) -> bool:
        return self.now() >= datetime.combine(day, PUBLISHED_AT[api_name], SHANGHAI)


def _to_list(values: np.ndarray) -> list:
    if values.dtype.kind == "f":
        return [None if v != v else v for v in values.tolist()]  # NaN -> null, as Tushare sends
    return values.tolist()


def _parse_fields(fields: Any, api_name: str) -> tuple[str, ...]:
    known = API_DATASETS[api_name].fields
    if isinstance(fields, list):
        requested = [str(name).strip() for name in fields]
    else:
        requested = [name.strip() for name in str(fields or "").split(",")]
    requested = [name for name in requested if name]
    if not requested:
        return DEFAULT_FIELDS.get(api_name, known)
    return tuple(name for name in requested if name in known)  # unknown fields are dropped silently


def _corrupt(data: dict[str, Any], fault: str) -> None:
    """Malformed answers: the last field missing, or the last column's numbers sent as text."""
    if fault == "drop_field":
        data["fields"] = data["fields"][:-1]
        data["items"] = [item[:-1] for item in data["items"]]
    else:
        data["items"] = [[*item[:-1], None if item[-1] is None else str(item[-1])] for item in data["items"]]


def _request_id() -> str:
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
            return self._send_json(
                200, {"request_id": _request_id(), "code": 40101, "msg": "请求格式错误", "data": None}
            )
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
            return self._send_json(200, self.stand_in.error(50101, MSG_SERVER_BUSY, api_name, "server_busy"))
        if fault == "rate_limited":
            message = MSG_RATE_LIMIT.format(limit=self.stand_in.limit(api_name, 2000))
            return self._send_json(200, self.stand_in.error(40203, message, api_name, "rate_limited"))
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
