"""Faithful to the real service: the pipeline against the independent double with its real-service
switches on — fields dropped upstream, truncated answers that deny it, servers ignoring `offset`,
restatements and same-dated corrections, the 2026 envelope — on SQLite and PostgreSQL."""

import hashlib
import json
import threading
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
import sqlalchemy as sa

from stock_pipeline import sync
from stock_pipeline.datasets import DAILY, FINA_INDICATOR, INCOME, STOCK_BASIC, TRADE_CAL
from stock_pipeline.defs.financials.assets import statement_assets
from stock_pipeline.defs.financials.partitions import batch_of
from stock_pipeline.defs.market.assets import trade_date_assets
from stock_pipeline.resources import SyncPolicyResource
from stock_pipeline.statements import as_of
from stock_pipeline.tushare.client import TushareClient, TushareFrame
from stock_pipeline.tushare.errors import TushareQuotaError, TushareRateLimitError, TushareUnavailableError
from stock_pipeline.warehouse import Warehouse, frame_to_batch
from stock_pipeline_tests.conftest import (
    failure_message,
    make_resources,
    materialize_dates,
    materialize_reference,
    server_items,
    table_rows,
)

INCOME_ASSET = next(asset for asset in statement_assets if asset.key.path == ["income"])
FINA_ASSET = next(asset for asset in statement_assets if asset.key.path == ["fina_indicator"])
DAILY_ASSET = next(asset for asset in trade_date_assets if asset.key.path == ["daily"])
Q_FIELDS = ["q_profit_yoy", "q_profit_qoq", "q_netprofit_yoy", "q_netprofit_qoq"]
TODAY = datetime.now(ZoneInfo("Asia/Shanghai")).date()


def _resources(server, warehouse_url, **policy):
    return make_resources(server, warehouse_url) | {"sync_policy": SyncPolicyResource(**policy)}


def _rows(warehouse_url: str, sql: str, **params) -> list[dict]:
    engine = sa.create_engine(warehouse_url)
    with engine.connect() as conn:
        rows = [dict(row) for row in conn.execute(sa.text(sql), params).mappings()]
    engine.dispose()
    return rows


def _as_of(warehouse_url: str, dataset, day: date) -> dict[tuple, dict]:
    engine = sa.create_engine(warehouse_url)
    with engine.connect() as conn:
        rows = conn.execute(as_of(dataset, day)).mappings().all()
    engine.dispose()
    return {(row["ts_code"], row["end_date"]): dict(row) for row in rows}


def _day(value) -> date:
    """A date from a typed read, a SQLite text read (YYYY-MM-DD) or a Tushare value (YYYYMMDD)."""
    if isinstance(value, date):
        return value
    text = str(value).replace("-", "")
    return date(int(text[:4]), int(text[4:6]), int(text[6:8]))


def _check(result: dg.ExecuteInProcessResult, name: str) -> dg.AssetCheckEvaluation:
    return next(check for check in result.get_asset_check_evaluations() if check.check_name == name)


def test_fina_indicator_without_q_fields_and_update_flag_is_stored_with_nulls_and_reported(server, warehouse_url):
    server.configure(drop_fields={"fina_indicator": Q_FIELDS}, omit_update_flag=["fina_indicator"])
    resources = _resources(server, warehouse_url)
    assert materialize_reference(resources).success

    result = dg.materialize([FINA_ASSET], resources=resources, partition_key="batch_03")

    assert result.success
    metadata = result.asset_materializations_for_node("fina_indicator")[0].metadata
    missing = {*Q_FIELDS, "update_flag"}
    assert set(metadata["fields_missing_upstream"].value.split(", ")) == missing
    check = _check(result, "upstream_fields")
    assert check.passed is False and check.severity == dg.AssetCheckSeverity.WARN
    assert set(check.metadata["fields_missing_upstream"].value.split(", ")) == missing
    store = Warehouse(warehouse_url)
    assert store.failures() == []  # no ledger row for a field the service dropped
    store.dispose()
    stored = table_rows(warehouse_url, FINA_INDICATOR)
    assert stored
    positions = [FINA_INDICATOR.fields.index(name) for name in missing]
    assert all(row[position] is None for row in stored for position in positions)
    eps = FINA_INDICATOR.fields.index("eps")
    assert any(row[eps] is not None for row in stored)


def test_the_same_schema_error_on_every_stock_stops_the_batch_with_one_failure(server, warehouse_url):
    resources = _resources(server, warehouse_url)
    assert materialize_reference(resources).success
    server.configure(drop_fields={"income": ["end_date"]})  # a report's identity cannot be stored

    result = dg.materialize([INCOME_ASSET], resources=resources, partition_key="batch_03", raise_on_error=False)

    assert not result.success
    message = failure_message(result)
    assert "3 stocks in a row" in message and "end_date" in message
    assert server.stats()["calls"]["income"] == 3  # stopped after the third stock, not one error per stock
    store = Warehouse(warehouse_url)
    assert store.failures() == [] and store.count_rows(INCOME) == 0
    store.dispose()


def _stored_pairs(warehouse_url: str) -> list[tuple[dict, dict]]:
    """Two income versions of one report that share both announcement dates."""
    rows = _rows(
        warehouse_url,
        "SELECT ts_code, end_date, report_type, ann_date, f_ann_date, update_flag, ebit, known_from, first_seen_at "
        "FROM income",
    )
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        key = (row["ts_code"], str(row["end_date"]), row["report_type"], str(row["ann_date"]), str(row["f_ann_date"]))
        groups.setdefault(key, []).append(row)
    return [tuple(sorted(group, key=lambda row: row["update_flag"])) for group in groups.values() if len(group) == 2]


def test_as_of_never_returns_a_same_dated_correction_before_the_warehouse_saw_it(server, warehouse_url):
    server.configure(same_date_corrections=True)
    resources = _resources(server, warehouse_url)
    assert materialize_reference(resources).success
    for batch in ("batch_01", "batch_02", "batch_03"):
        assert dg.materialize([INCOME_ASSET], resources=resources, partition_key=batch).success

    pairs = _stored_pairs(warehouse_url)
    assert pairs, "the double served no same-dated correction"
    for original, correction in pairs:
        assert (original["update_flag"], correction["update_flag"]) == ("0", "1")
        announced = max(_day(original["ann_date"]), _day(original["f_ann_date"]))
        assert _day(original["known_from"]) == announced
        assert _day(correction["known_from"]) == TODAY  # cannot be dated from the data: first seen today
        key = (original["ts_code"], _day(original["end_date"]))
        before = _as_of(warehouse_url, INCOME, announced)[key]
        assert (before["update_flag"], before["ebit"]) == ("0", original["ebit"])
        now = _as_of(warehouse_url, INCOME, TODAY)[key]
        assert (now["update_flag"], now["ebit"]) == ("1", correction["ebit"])


def test_as_of_reads_the_original_of_a_restated_statement_until_the_restatement(server, warehouse_url):
    server.configure(restatements=True)
    resources = _resources(server, warehouse_url)
    assert materialize_reference(resources).success
    for batch in ("batch_01", "batch_02"):
        assert dg.materialize([INCOME_ASSET], resources=resources, partition_key=batch).success

    originals = _rows(warehouse_url, "SELECT * FROM income WHERE report_type = '5'")
    assert originals, "the double served no restated statement"
    for original in originals:
        key = (original["ts_code"], _day(original["end_date"]))
        [restated] = _rows(
            warehouse_url,
            "SELECT * FROM income WHERE report_type = '1' AND ts_code = :c AND end_date = :e AND ann_date > :a",
            c=original["ts_code"],
            e=original["end_date"],
            a=original["ann_date"],
        )
        published, restated_on = _day(original["ann_date"]), _day(restated["ann_date"])
        assert _day(restated["f_ann_date"]) < restated_on  # f_ann_date before ann_date, as real answers have
        known = _as_of(warehouse_url, INCOME, published)[key]
        assert (known["report_type"], known["total_revenue"]) == ("5", original["total_revenue"])
        later = _as_of(warehouse_url, INCOME, restated_on)[key]
        assert (later["report_type"], later["total_revenue"]) == ("1", restated["total_revenue"])


def test_a_lower_cap_with_has_more_false_still_stores_every_row(server, warehouse_url):
    resources = make_resources(server, warehouse_url)
    days = [date(2024, 7, 1), date(2024, 7, 2)]
    expected = {day: server_items(server, "daily", {"trade_date": f"{day:%Y%m%d}"}, ("ts_code",)) for day in days}
    stocks = sum(len(server_items(server, "stock_basic", {"list_status": s}, ("ts_code",))) for s in "LDP")
    # Caps far below the declared ones, and truncated answers that say nothing more is there.
    server.configure(row_caps={"daily": 70, "stock_basic": 40}, lie_has_more=["*"])

    assert materialize_reference(resources).success
    result = materialize_dates([DAILY_ASSET], resources, "2024-07-01", "2024-07-02")

    assert result.success
    assert len(table_rows(warehouse_url, STOCK_BASIC)) == stocks
    for day in days:
        assert sorted(row[0] for row in table_rows(warehouse_url, DAILY, day)) == sorted(i[0] for i in expected[day])


def test_a_server_ignoring_offset_fails_clearly_and_writes_nothing(server, warehouse_url):
    resources = make_resources(server, warehouse_url)
    assert materialize_reference(resources).success
    server.configure(row_caps={"daily": 70}, ignore_offset=["daily"])

    result = materialize_dates([DAILY_ASSET], resources, "2024-07-01", "2024-07-01", raise_on_error=False)

    assert not result.success
    assert "ignores `offset`" in failure_message(result)
    assert table_rows(warehouse_url, DAILY) == []
    assert server.stats()["calls"]["daily"] == 2  # the repeated page is noticed at once, no loop


def test_unsorted_answers_a_huge_calendar_and_the_2026_envelope_sync_completely(server, warehouse_url):
    resources = make_resources(server, warehouse_url)
    expected = server_items(server, "daily", {"trade_date": "20240703"}, DAILY.fields)
    server.configure(
        trade_cal_uncapped=True, envelope_2026=True, unsorted=["*"], row_caps={"daily": 70}, has_more_when_full=["*"]
    )

    assert materialize_reference(resources).success
    assert materialize_dates([DAILY_ASSET], resources, "2024-07-03", "2024-07-03").success

    calendar = table_rows(warehouse_url, TRADE_CAL)
    assert len(calendar) > 2 * 10000  # both exchanges, each above the 10000-row cap declared
    assert sorted(row[0] for row in table_rows(warehouse_url, DAILY)) == sorted(item[0] for item in expected)


def test_the_2026_rate_limit_and_daily_quota_answers_are_told_apart(server):
    server.configure(rate_limit_wording="2026", daily_quotas={"daily": 1}, rate_limits={"adj_factor": 1})
    client = TushareClient(server.token, server.url, max_attempts=1, sleep=lambda _: None)
    params = {"trade_date": "20240703"}

    client.query("daily", params, ("ts_code",))
    with pytest.raises(TushareQuotaError, match="次/天"):
        client.query("daily", params, ("ts_code",))
    client.query("adj_factor", params, ("ts_code",))
    with pytest.raises(TushareUnavailableError) as raised:
        client.query("adj_factor", params, ("ts_code",))
    assert isinstance(raised.value.__cause__, TushareRateLimitError)
    assert "频率超限" in str(raised.value.__cause__)


def test_dates_before_a_datasets_history_start_make_no_call(server, warehouse_url):
    resources = make_resources(server, warehouse_url)
    assert materialize_reference(resources).success
    late_start = DAILY.__class__(**{**DAILY.__dict__, "history_start": date(2024, 7, 3)})
    store = Warehouse(warehouse_url)
    client = TushareClient(server.token, server.url)

    report = sync.sync_trade_dates(client, store, late_start, [date(2024, 7, day) for day in range(1, 6)])

    assert report.dates_before_history == [date(2024, 7, 1), date(2024, 7, 2)]
    assert client.stats.calls["daily"] == 3
    assert {row[1] for row in table_rows(warehouse_url, DAILY)} == {date(2024, 7, day) for day in (3, 4, 5)}
    store.dispose()


class _ListingServer(BaseHTTPRequestHandler):
    """A stock that moves from listed to delisted between the L and the D call."""

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        fields = ["ts_code", "name", "list_status", "list_date", "delist_date"]
        rows = {
            "L": [["000001.SZ", "平安银行", "L", "19910403", None], ["600001.SH", "邯郸钢铁", "L", "19980122", None]],
            "D": [["600001.SH", "邯郸钢铁", "D", "19980122", "20091229"]],
            "P": [],
        }[body["params"].get("list_status", "L")]
        items = rows if not body["params"].get("offset") else []
        payload = json.dumps({"code": 0, "msg": "", "data": {"fields": fields, "items": items, "has_more": False}})
        self.send_response(200)
        self.send_header("Content-Length", str(len(payload.encode())))
        self.end_headers()
        self.wfile.write(payload.encode())

    def log_message(self, *args):
        pass


def test_a_stock_changing_status_between_the_stock_basic_calls_is_merged_by_key(warehouse_url):
    http = ThreadingHTTPServer(("127.0.0.1", 0), _ListingServer)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    store = Warehouse(warehouse_url)
    store.create_tables()
    try:
        client = TushareClient("token", f"http://127.0.0.1:{http.server_address[1]}/dataapi")
        sync.sync_stock_basic(client, store)
    finally:
        http.shutdown()
    stored = {row[0]: row for row in table_rows(warehouse_url, STOCK_BASIC)}
    status = STOCK_BASIC.fields.index("list_status")
    assert {code: row[status] for code, row in stored.items()} == {"000001.SZ": "L", "600001.SH": "D"}
    store.dispose()


def test_a_version_keeps_its_identity_when_its_flag_flips_or_a_number_is_spelled_differently(server, warehouse_url):
    store = Warehouse(warehouse_url)
    store.create_tables()
    frame_rows = server_items(server, "income", {"ts_code": "000001.SZ", "start_date": "20000101"}, INCOME.fields)
    assert frame_rows
    first = frame_to_batch(INCOME, TushareFrame("income", INCOME.fields, [list(row) for row in frame_rows]))
    assert store.insert_versions(INCOME, first, ["000001.SZ"]) == len(first)
    flag = INCOME.fields.index("update_flag")

    def respelled(index: int, value):
        if index == flag:
            return "0" if value == "1" else "1"
        return int(value) if isinstance(value, float) and value.is_integer() else value  # 1.0 sent as 1

    flipped = [[respelled(index, value) for index, value in enumerate(row)] for row in frame_rows]
    second = frame_to_batch(INCOME, TushareFrame("income", INCOME.fields, flipped))

    assert store.insert_versions(INCOME, second, ["000001.SZ"]) == 0
    assert store.count_rows(INCOME) == len(first)
    flags = {row["update_flag"] for row in _rows(warehouse_url, "SELECT update_flag FROM income")}
    assert flags <= {"0", "1"} and len(_rows(warehouse_url, "SELECT * FROM income WHERE update_flag = '1'")) == sum(
        1 for row in flipped if row[flag] == "1"
    )
    store.dispose()


# The income table as the previous declaration created it: no `end_net_profit` (the field this test
# pretends was added since), no first_seen_at/known_from, and versions hashed with their update_flag.
PREVIOUS_FIELDS = tuple(name for name in INCOME.fields if name != "end_net_profit")


def _previous_income_table(metadata: sa.MetaData) -> sa.Table:
    kinds = {column.name: column.kind for column in INCOME.columns}
    types = {"str": sa.String, "date": sa.Date, "float": lambda: sa.Float(53), "int": sa.Integer}
    return sa.Table(
        "income",
        metadata,
        *(sa.Column(name, types[kinds[name]]()) for name in PREVIOUS_FIELDS),
        sa.Column("version_hash", sa.String, nullable=False),
        sa.PrimaryKeyConstraint("ts_code", "version_hash", name="pk_income"),
    )


def test_a_warehouse_of_the_previous_declaration_is_migrated_without_duplicating_versions(server, warehouse_url):
    resources = _resources(server, warehouse_url)
    assert materialize_reference(resources).success
    engine = sa.create_engine(warehouse_url)
    with engine.begin() as conn:
        # Back to what the previous code left: no schema bookkeeping tables, the old income table and view.
        conn.exec_driver_sql("DROP VIEW IF EXISTS income_latest")
        for table in ("income", "warehouse_meta", "schema_change"):
            conn.exec_driver_sql(f"DROP TABLE {table}")
        old = _previous_income_table(sa.MetaData())
        old.create(conn)
        conn.exec_driver_sql("CREATE VIEW income_latest AS SELECT ts_code, end_date FROM income")
        stocks = [code for code in Warehouse(warehouse_url).stock_codes() if batch_of(code) == "batch_04"]
        previous_rows = []
        for code in stocks:
            for item in server_items(server, "income", {"ts_code": code, "start_date": "20000101"}, PREVIOUS_FIELDS):
                digest = hashlib.md5(json.dumps(item, separators=(",", ":")).encode()).hexdigest()
                row = dict(zip(PREVIOUS_FIELDS, item, strict=True)) | {"version_hash": digest}
                previous_rows.append({k: _day(v) if k.endswith("_date") and v else v for k, v in row.items()})
        unique = {row["version_hash"]: row for row in previous_rows}
        conn.execute(old.insert(), list(unique.values()))
    engine.dispose()

    # The next run opens the warehouse (migrating it) and fetches the same stocks again.
    result = dg.materialize([INCOME_ASSET], resources=resources, partition_key="batch_04")

    assert result.success
    assert result.asset_materializations_for_node("income")[0].metadata["new_versions"].value == 0
    served = {
        tuple(item)
        for code in stocks
        for item in server_items(server, "income", {"ts_code": code, "start_date": "20000101"}, INCOME.fields)
    }
    stored = _rows(warehouse_url, "SELECT ts_code, end_net_profit, known_from, first_seen_at FROM income")
    assert len(stored) == len(served)
    assert any(row["end_net_profit"] is not None for row in stored)  # the new column filled by the next fetch
    assert all(row["known_from"] is not None and row["first_seen_at"] is not None for row in stored)
    [change] = _rows(warehouse_url, "SELECT table_name, column_name FROM schema_change")
    assert (change["table_name"], change["column_name"]) == ("income", "end_net_profit")
    latest = _rows(warehouse_url, "SELECT ts_code, known_from, end_net_profit FROM income_latest")
    assert {row["ts_code"] for row in latest} == {row["ts_code"] for row in stored}  # the view was replaced
    assert datetime.now(UTC) > min(_parse_ts(row["first_seen_at"]) for row in stored)


def _parse_ts(value) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


def test_a_short_answer_is_paged_until_an_empty_page_even_past_the_expected_rows(server):
    expected = server_items(server, "daily", {"trade_date": "20240703"}, ("ts_code",))
    cap = len(expected) // 3 + 1  # three pages; the second, full, already reaches the expected rows
    server.configure(row_caps={"daily": cap}, lie_has_more=["daily"])
    client = TushareClient(server.token, server.url)

    answer = client.query("daily", {"trade_date": "20240703"}, ("ts_code",), 6000, expected_rows=2 * cap)

    assert sorted(answer.items) == sorted(expected)
    assert client.stats.calls["daily"] == 4  # three pages, then the empty one that ends it
