"""Recorded answers of the real Tushare Pro service as contract tests (issue 8, item 2).

Every file in `real_answers/` (a copy of the public recordings described in its README) is served over
real HTTP by a small replay server that speaks the Tushare wire protocol, and goes through the real
`TushareClient`, the plain sync functions of `stock_pipeline.sync` and the real `Warehouse`, on SQLite and
PostgreSQL. Each file is either accepted, with every recorded value read back from the warehouse table
unchanged (same string, exactly the same float, NULL for null, a `datetime.date` for a YYYYMMDD date) and
nothing else stored, or refused with the error class its text denotes. `EXPECTED` says which, and why;
a file without an entry fails.
"""

import copy
import json
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from stock_pipeline import sync
from stock_pipeline.datasets import DATASETS_BY_API, TushareDataset
from stock_pipeline.defs.financials.partitions import batch_of
from stock_pipeline.tushare.client import TushareClient
from stock_pipeline.tushare.errors import (
    TushareAuthError,
    TushareError,
    TushareParameterError,
    TusharePermissionError,
    TushareRateLimitError,
    TushareServerError,
    TushareUnavailableError,
    TushareUnknownApiError,
)
from stock_pipeline.warehouse import Warehouse
from stock_pipeline_tests.conftest import fresh_postgres_database

ANSWERS_DIR = Path(__file__).parent / "real_answers"
TOKEN = "replay-token-0123456789abcdef0123456789abcdef0123456789"
MAX_ATTEMPTS = 2


@dataclass(frozen=True)
class Expect:
    """What a recorded answer must do: be accepted (`refused_with` None) or fail with that class."""

    reason: str
    refused_with: type[TushareError] | None = None
    # For error answers: the API the test asks (any API gets the same error answer).
    api: str = "stock_basic"


ACCEPTED = None
EXPECTED: dict[str, Expect] = {
    # -- accepted: every recorded value stored unchanged ----------------------------------------------
    "adj_factor_doc28_sample.json": Expect("one stock over 21 trading days, every declared field present"),
    "balancesheet_doc36_sample.json": Expect(
        "narrowed fields= (7 of the declared columns): the others are NULL; report_type/comp_type are strings"
    ),
    "balancesheet_live2026_000002SZ.json": Expect(
        "two versions of 000002.SZ 2023H1 sharing ann_date and f_ann_date, differing in update_flag and "
        "total_share: both are stored"
    ),
    "cashflow_doc44_sample.json": Expect(
        "default output cut to 8 columns; null net_profit/finan_exp stored as NULL; a row repeated verbatim "
        "is stored once"
    ),
    "daily_basic_doc32_sample.json": Expect(
        "narrowed fields= (6 of the declared columns, close/pe_ttm/total_mv... absent): the others are NULL; "
        "whole-market rows not in ts_code order"
    ),
    "daily_doc27_sample.json": Expect("every daily field, one stock over 10 dates, newest first"),
    "daily_live_20000104_abridged.json": Expect(
        "verbatim 2000-01-04 envelope (dashed request_id, count -1, has_more false), abridged to 3 rows "
        "that are not sorted by code"
    ),
    "disclosure_date_doc162_sample.json": Expect(
        "actual_date and modify_date are null until known: stored as NULL, the dates as dates"
    ),
    "fina_indicator_doc79_sample.json": Expect(
        "7 of the declared columns and no update_flag: the others are NULL; three pairs repeated verbatim "
        "are stored once each"
    ),
    "fina_indicator_live2026_600519SH.json": Expect(
        "two versions of 600519.SH 2018Q1 with the same ann_date, fcff differing in sign and no update_flag: "
        "both are stored"
    ),
    "income_doc33_sample.json": Expect(
        "8 of the declared columns, no update_flag; the byte-identical point-in-time duplicate is stored once"
    ),
    "income_live2026_000001SZ.json": Expect(
        "a flag 0/1 pair sharing both announcement dates (differing in update_flag and ebit) is stored twice; "
        "f_ann_date a year before / ten months after ann_date is kept as recorded; no report_type field"
    ),
    "stock_basic_doc25_sample.json": Expect(
        "6 of the declared columns (no list_status, delist_date, exchange...): the others are NULL; Chinese "
        "names unchanged"
    ),
    "trade_cal_doc26_sample.json": Expect("default output without pretrade_date (stored NULL); is_open a JSON integer"),
    "trade_cal_doc40_http.json": Expect(
        "every calendar field, is_open a JSON integer, msg null, no request_id and no has_more"
    ),
    # -- refused: the error class the text denotes -----------------------------------------------------
    "err_bad_token.json": Expect(
        "'您的token不对' is a wrong token; its code 40101 is also 'ts_code required', so the text decides",
        TushareAuthError,
    ),
    "err_internal_malformed_request_2018.json": Expect(
        "'系统内部错误' is a server-side failure: retried, then failing; the recorded cause (a malformed body) "
        "is one this client never sends",
        TushareServerError,
        api="trade_cal",
    ),
    "err_no_permission_2019.json": Expect(
        "'您没有权限访问该接口': the account lacks the points for the API", TusharePermissionError, api="trade_cal"
    ),
    "err_rate_limit_minute_2025.json": Expect(
        "'每分钟最多访问该接口1次' is the per-minute limit (retried after a cool-down), although the text also "
        "names the permission page (权限)",
        TushareRateLimitError,
    ),
    "err_system_unknown_2020.json": Expect(
        "'系统未知错误' is a server-side failure: retried, then failing", TushareServerError, api="daily"
    ),
    "err_ts_code_required_2021.json": Expect(
        "'ts_code required' is a missing parameter, although it shares code 40101 with a wrong token",
        TushareParameterError,
        api="adj_factor",
    ),
    "err_unknown_api_2026.json": Expect(
        "'请指定正确的接口名' (no `data` key at all) names an API the server does not know",
        TushareUnknownApiError,
        api="stk_factor",
    ),
    "err_unknown_field_2018.json": Expect(
        "'接口trade_cal不包含字段exchange_id' refuses a requested field: a parameter error",
        TushareParameterError,
        api="trade_cal",
    ),
}

STATEMENTS = ("income", "balancesheet", "cashflow", "fina_indicator")
DAILY_TYPES = ("daily", "adj_factor", "daily_basic")
# The column a call's start_date/end_date filter.
DATE_RANGE_COLUMN = {
    "income": "ann_date",
    "balancesheet": "ann_date",
    "cashflow": "ann_date",
    "fina_indicator": "end_date",
    "daily": "trade_date",
    "adj_factor": "trade_date",
    "daily_basic": "trade_date",
    "trade_cal": "cal_date",
}
# Parameters that pick one slice of an API's rows, with the value the recordings were made with (the
# documented default where the recorded call did not send it): another value answers no rows.
SLICE_PARAMS = {
    "income": ("report_type", "1"),
    "balancesheet": ("report_type", "1"),
    "cashflow": ("report_type", "1"),
    "stock_basic": ("list_status", "L"),
}
# How a recorded row is found again in the warehouse; statements are matched on every recorded field.
NATURAL_KEY = {
    "trade_cal": ("exchange", "cal_date"),
    "stock_basic": ("ts_code",),
    "daily": ("ts_code", "trade_date"),
    "adj_factor": ("ts_code", "trade_date"),
    "daily_basic": ("ts_code", "trade_date"),
    "disclosure_date": ("ts_code", "end_date"),
}


def _load(name: str) -> dict[str, Any]:
    return json.loads((ANSWERS_DIR / name).read_text(encoding="utf-8"))


def _answer_files() -> list[str]:
    return sorted(path.name for path in ANSWERS_DIR.glob("*.json"))


# -- the replay server ------------------------------------------------------------------------------------


class ReplayServer:
    """Answers `POST <base>/<api_name>` with one recorded answer, applying only documented request
    semantics to its rows:

    - `offset` > 0: a page with the same fields and no rows (`has_more` false);
    - a slicing parameter (`SLICE_PARAMS`: statements' `report_type`, `stock_basic`'s `list_status`) with a
      value other than the recorded one: no rows;
    - `ts_code`: that stock's rows; `trade_date` (daily types): that date's rows; `period` (statements):
      that report period's rows; `disclosure_date`'s `end_date`: that period's rows;
    - `start_date`/`end_date`: the range of `DATE_RANGE_COLUMN` (statements: `ann_date`, `fina_indicator`:
      its report period `end_date`, daily types: `trade_date`, `trade_cal`: `cal_date`);
    - `fields`: the recorded fields that were asked for, in the recorded order (never one more).

    `exchange` is not applied: the calendar recordings are the SSE answer of `exchange=''`, replayed for
    each exchange asked. Error recordings (`api_name` "*") are answered verbatim for any API; a call to an
    API the recording does not cover is answered HTTP 404 and listed in `unexpected`.
    """

    def __init__(self, record: dict[str, Any]):
        self.record = record
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.unexpected: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/dataapi"

    def __enter__(self) -> "ReplayServer":
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                api_name = self.path.rstrip("/").rsplit("/", 1)[-1]
                status, answer = replay.answer(api_name, body)
                payload = json.dumps(answer, ensure_ascii=False).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="tushare-replay", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._httpd is not None and self._thread is not None
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)

    def calls_to(self, api_name: str) -> int:
        return sum(1 for name, _ in self.calls if name == api_name)

    def answer(self, api_name: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        params = body.get("params") or {}
        with self._lock:
            self.calls.append((api_name, params))
        record = self.record
        if record["api_name"] == "*":
            return 200, copy.deepcopy(record["response"])
        if api_name != record["api_name"]:
            with self._lock:
                self.unexpected.append((api_name, params))
            return 404, {"code": -1, "msg": f"replay of {record['id']} has no answer for {api_name}"}
        answer = copy.deepcopy(record["response"])
        data = answer["data"]
        fields: list[str] = data["fields"]
        rows = [dict(zip(fields, item)) for item in data["items"]]
        rows = self._select(api_name, params, rows)
        asked = [name for name in str(body.get("fields") or "").split(",") if name.strip()]
        if asked:
            fields = [name for name in fields if name in asked]
        data["fields"] = fields
        data["items"] = [[row[name] for name in fields] for row in rows]
        if _int(params.get("offset")) > 0:
            data["items"], data["has_more"] = [], False
        return 200, answer

    @staticmethod
    def _select(api_name: str, params: dict[str, Any], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        def given(name: str) -> str | None:
            value = params.get(name)
            return None if value is None or str(value) == "" else str(value)

        if api_name in SLICE_PARAMS:
            name, recorded = SLICE_PARAMS[api_name]
            if (given(name) or recorded) != recorded:
                return []
        equal = {"ts_code": "ts_code"}
        if api_name in DAILY_TYPES:
            equal["trade_date"] = "trade_date"
        if api_name in STATEMENTS:
            equal["period"] = "end_date"
        if api_name == "disclosure_date":
            equal["end_date"] = "end_date"
        for param, column in equal.items():
            if given(param) is not None:
                rows = [row for row in rows if column not in row or row[column] == given(param)]
        column = DATE_RANGE_COLUMN.get(api_name)
        if column is not None:
            if given("start_date") is not None:
                rows = [row for row in rows if row.get(column) is not None and row[column] >= given("start_date")]
            if given("end_date") is not None:
                rows = [row for row in rows if row.get(column) is not None and row[column] <= given("end_date")]
        return rows


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


# -- warehouses -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def module_postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for this module, dropped afterwards."""
    with fresh_postgres_database(postgres_admin_url, "sp_real_answers") as url:
        yield url


def _empty_warehouse_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'warehouse.db'}"
    url = request.getfixturevalue("module_postgres_url")
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()
    return url


# -- driving the pipeline ---------------------------------------------------------------------------------


def _yyyymmdd(value: str) -> date:
    return datetime.strptime(value, "%Y%m%d").date()


def _recorded_rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    data = record["response"]["data"]
    return [dict(zip(data["fields"], item)) for item in data["items"]]


def _open_trading_days(url: str, days: list[date]) -> None:
    """Make the warehouse calendar cover `days` as open days, the way `trade_cal` would have."""
    engine = sa.create_engine(url)
    try:
        table = sa.Table("trade_cal", sa.MetaData(), autoload_with=engine)
        with engine.begin() as conn:
            conn.execute(
                table.insert(),
                [{"exchange": exchange, "cal_date": day, "is_open": 1} for exchange in ("SSE", "SZSE") for day in days],
            )
    finally:
        engine.dispose()


def _statement_start(record: dict[str, Any], rows: list[dict[str, Any]]) -> date:
    recorded = record["request"]["params"].get("start_date")
    if recorded:
        return _yyyymmdd(recorded)
    return min(_yyyymmdd(row[DATE_RANGE_COLUMN[record["api_name"]]]) for row in rows)


def _sync(record: dict[str, Any], client: TushareClient, warehouse: Warehouse, url: str) -> None:
    """Run the plain sync function that fetches this API, the way the pipeline runs it."""
    api_name = record["api_name"]
    dataset = DATASETS_BY_API[api_name]
    rows = _recorded_rows(record)
    if api_name == "trade_cal":
        days = sorted(_yyyymmdd(row["cal_date"]) for row in rows)
        sync.sync_trade_cal(client=client, warehouse=warehouse, start=days[0], end=days[-1])
    elif api_name == "stock_basic":
        sync.sync_stock_basic(client=client, warehouse=warehouse)
    elif api_name in DAILY_TYPES:
        days = sorted({_yyyymmdd(row["trade_date"]) for row in rows})
        _open_trading_days(url, days)
        sync.sync_trade_dates(client=client, warehouse=warehouse, dataset=dataset, days=days)
    elif api_name in STATEMENTS:
        sync.sync_statements(
            client=client,
            warehouse=warehouse,
            dataset=dataset,
            stocks=sorted({row["ts_code"] for row in rows}),
            start=_statement_start(record, rows),
            partition_of=batch_of,
            max_retries=3,
        )
    elif api_name == "disclosure_date":
        periods = sorted({_yyyymmdd(row["end_date"]) for row in rows})
        sync.sync_disclosure_dates(client=client, warehouse=warehouse, periods=periods)
    else:
        raise AssertionError(f"no sync function is known for {api_name}: extend _sync")


# -- reading the warehouse back ---------------------------------------------------------------------------


def _read_table(url: str, name: str) -> list[dict[str, Any]]:
    engine = sa.create_engine(url)
    try:
        table = sa.Table(name, sa.MetaData(), autoload_with=engine)
        with engine.connect() as conn:
            return [dict(row) for row in conn.execute(sa.select(table)).mappings()]
    finally:
        engine.dispose()


def _open_failures(url: str, api_name: str) -> list[dict[str, Any]]:
    engine = sa.create_engine(url)
    try:
        if not sa.inspect(engine).has_table("sync_failure"):
            return []
    finally:
        engine.dispose()
    return [
        row for row in _read_table(url, "sync_failure") if row["dataset"] == api_name and row["status"] != "resolved"
    ]


def _expected_value(dataset: TushareDataset, name: str, value: Any) -> Any:
    """A recorded value as the warehouse must give it back: YYYYMMDD dates as dates, the rest as is."""
    if value is not None and name in dataset.date_columns:
        return _yyyymmdd(value)
    return value


def _same(expected: Any, stored: Any) -> bool:
    if expected is None:
        return stored is None
    # Same type and same value: 1.0 is not "1", a float is compared exactly.
    return type(stored) is type(expected) and stored == expected


def _request_implied(api_name: str, name: str) -> set[Any]:
    """A field absent from the answer may hold NULL, or the value the call itself fixed (report_type 1 for
    a statement call, list_status L for the listed stocks) if the pipeline fills it in from its request."""
    if api_name in SLICE_PARAMS and SLICE_PARAMS[api_name][0] == name:
        return {SLICE_PARAMS[api_name][1]}
    return set()


def _assert_stored_unchanged(record: dict[str, Any], url: str) -> None:
    api_name = record["api_name"]
    dataset = DATASETS_BY_API[api_name]
    recorded_fields = list(record["response"]["data"]["fields"])
    # Rows repeated verbatim are one row (json.dumps tells 1 from 1.0).
    distinct = dict.fromkeys(json.dumps(item) for item in record["response"]["data"]["items"])
    expected = [
        {name: _expected_value(dataset, name, value) for name, value in zip(recorded_fields, json.loads(text))}
        for text in distinct
    ]
    stored = _read_table(url, api_name)
    problems: list[str] = []

    key = NATURAL_KEY.get(api_name, tuple(recorded_fields))
    stored_by_key: dict[tuple, list[dict[str, Any]]] = {}
    for row in stored:
        stored_by_key.setdefault(tuple(row.get(name) for name in key), []).append(row)
    for row in expected:
        row_key = tuple(row[name] for name in key)
        matches = stored_by_key.get(row_key, [])
        label = dict(zip(key, row_key)) if api_name in NATURAL_KEY else row
        if len(matches) != 1:
            problems.append(f"{len(matches)} stored rows for recorded {label}")
            continue
        for name in recorded_fields:
            value = matches[0].get(name, "<no such column>")
            if not _same(row[name], value):
                problems.append(
                    f"{dict(zip(key, row_key))}: {name} stored {value!r} ({type(value).__name__}), "
                    f"recorded {row[name]!r} ({type(row[name]).__name__})"
                )
    if len(stored) != len(expected):
        problems.append(f"{len(stored)} rows stored, {len(expected)} distinct rows recorded")

    absent = [name for name in dataset.fields if name not in recorded_fields]
    for name in absent:
        allowed = {None} | _request_implied(api_name, name)
        values = Counter(row.get(name, "<no such column>") for row in stored)
        wrong = {value: count for value, count in values.items() if value not in allowed}
        if wrong:
            problems.append(f"{name} is not in the answer but stored as {wrong} (must be NULL)")
    assert not problems, f"{record['id']}: stored rows differ from the recording:\n  " + "\n  ".join(problems[:40])


# -- the tests --------------------------------------------------------------------------------------------


def _cases() -> list:
    cases = []
    for name in sorted(set(_answer_files()) | set(EXPECTED)):
        expect = EXPECTED.get(name)
        stem = name.removesuffix(".json")
        if expect is not None and expect.refused_with is None:
            cases += [pytest.param(name, backend, id=f"{stem}-{backend}") for backend in ("sqlite", "postgres")]
        else:
            cases.append(pytest.param(name, None, id=stem))
    return cases


def test_every_recorded_file_has_an_expectation():
    files = set(_answer_files())
    assert (ANSWERS_DIR / "README.md").is_file()
    assert files - set(EXPECTED) == set(), "recorded answers without an entry in EXPECTED"
    assert set(EXPECTED) - files == set(), "entries in EXPECTED without their file"
    for name in files:
        record = _load(name)
        is_error = record["api_name"] == "*"
        assert is_error == (EXPECTED[name].refused_with is not None), f"{name}: an error file must be refused"


@pytest.mark.parametrize(("name", "backend"), _cases())
def test_recorded_answer(name: str, backend: str | None, request: pytest.FixtureRequest, tmp_path: Path):
    assert name in EXPECTED, f"{name} has no entry in EXPECTED: decide accepted or refused, and why"
    assert (ANSWERS_DIR / name).is_file(), f"{name} is in EXPECTED but not in {ANSWERS_DIR}"
    record = _load(name)
    expect = EXPECTED[name]
    if expect.refused_with is not None:
        _check_refused(record, expect)
    else:
        assert backend is not None
        _check_accepted(record, _empty_warehouse_url(backend, request, tmp_path))


def _check_accepted(record: dict[str, Any], url: str) -> None:
    with ReplayServer(record) as server:
        client = TushareClient(TOKEN, server.url, max_attempts=MAX_ATTEMPTS, sleep=lambda seconds: None)
        warehouse = Warehouse(url)
        try:
            warehouse.create_tables()
            _sync(record, client, warehouse, url)
        finally:
            client.close()
            warehouse.dispose()
    assert server.calls_to(record["api_name"]) >= 1
    assert not server.unexpected, f"calls the recording cannot answer: {server.unexpected}"
    failures = _open_failures(url, record["api_name"])
    refusals = "; ".join(f"{row['ts_code']}: {row['error'][:300]}" for row in failures)
    assert not failures, f"refused by the pipeline: {refusals}"
    _assert_stored_unchanged(record, url)


def _check_refused(record: dict[str, Any], expect: Expect) -> None:
    expected = expect.refused_with
    assert expected is not None
    with ReplayServer(record) as server:
        client = TushareClient(TOKEN, server.url, max_attempts=MAX_ATTEMPTS, sleep=lambda seconds: None)
        try:
            with pytest.raises(TushareError) as caught:
                client.query(expect.api, {"ts_code": "000001.SZ"}, ("ts_code",))
        finally:
            client.close()
    error = caught.value
    if expected.retryable:
        # Retried up to the attempt limit, then wrapped: the cause names the error class.
        assert isinstance(error, TushareUnavailableError), f"{record['id']}: {type(error).__name__}: {error}"
        cause = error.__cause__
        assert isinstance(cause, expected), (
            f"{record['id']}: cause is {type(cause).__name__}: {cause}, expected {expected.__name__}"
        )
        assert server.calls_to(expect.api) == MAX_ATTEMPTS
    else:
        assert isinstance(error, expected), f"{record['id']}: {type(error).__name__}: {error}"
        assert not error.retryable
        assert server.calls_to(expect.api) == 1, "a terminal error must not be retried"
