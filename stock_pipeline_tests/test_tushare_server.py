"""The synthetic server behaves like the real service where a sync can go wrong."""

import itertools
import time
import uuid
from datetime import date, timedelta

import numpy as np
import pytest
import requests

from tushare_double.app import ServerConfig, make_server
from tushare_double.model import API_MODELS
from tushare_double.synthetic import BOARDS, SyntheticMarket


def _post(server, api_name, params=None, fields="", path=None, token=None):
    body = {"api_name": api_name, "token": token or server.token, "params": params or {}, "fields": fields}
    response = requests.post(path or f"{server.url}/{api_name}", json=body, timeout=10)
    assert response.status_code == 200
    return response.json()


def test_answers_use_the_tushare_envelope_on_both_routes(server):
    by_path = _post(server, "trade_cal", {"start_date": "20240701", "end_date": "20240705"})
    by_body = _post(server, "trade_cal", {"start_date": "20240701", "end_date": "20240705"}, path=server.base + "/")

    assert by_path["code"] == 0 and by_path["data"] == by_body["data"]
    assert set(by_path) >= {"request_id", "code", "msg", "data"}
    assert by_path["data"]["fields"] == ["exchange", "cal_date", "is_open", "pretrade_date"]
    assert [row[1] for row in by_path["data"]["items"]] == ["20240705", "20240704", "20240703", "20240702", "20240701"]


def test_errors_are_http_200_with_a_code_and_the_real_message(server):
    answer = _post(server, "daily", {"trade_date": "20240705"}, token="bad")
    assert (answer["code"], answer["msg"], answer["data"]) == (40101, "您的token不对，请确认。", None)
    assert _post(server, "pro_bar")["msg"] == "请指定正确的接口名"


def test_market_data_is_newest_first_and_silently_truncated_at_the_cap(server):
    server.configure(row_caps={"daily": 500})
    answer = _post(server, "daily", {"start_date": "20240701", "end_date": "20240705"}, fields="ts_code,trade_date")

    items = answer["data"]["items"]
    assert len(items) == 500 and answer["data"]["has_more"] is True
    dates = [row[1] for row in items]
    assert dates == sorted(dates, reverse=True) and dates[0] == "20240705"
    assert "20240701" not in dates  # the oldest rows are the ones cut
    newest = [row[0] for row in items if row[1] == "20240705"]
    assert newest == sorted(newest)

    page = _post(
        server,
        "daily",
        {"start_date": "20240701", "end_date": "20240705", "offset": 500, "limit": 500},
        fields="ts_code,trade_date",
    )
    assert page["data"]["items"][0] != items[-1]


def test_fields_may_be_a_list_and_unknown_ones_are_dropped(server):
    answer = _post(server, "daily", {"trade_date": "20240705"}, fields=["ts_code", "close", "bogus"])
    assert answer["data"]["fields"] == ["ts_code", "close"]


def test_default_fields_omit_the_non_default_ones(server):
    assert "list_status" not in _post(server, "stock_basic")["data"]["fields"]


def test_rows_appear_only_after_their_publication_time(server):
    # daily: 17:00 (the latest official time, DOC-108), daily_basic 17:00, adj_factor 09:30 (tushare_double.model).
    server.configure(now="2024-07-05T16:59:00+08:00")
    assert _post(server, "daily", {"trade_date": "20240705"})["data"]["items"] == []
    assert _post(server, "daily_basic", {"trade_date": "20240705"})["data"]["items"] == []
    assert _post(server, "adj_factor", {"trade_date": "20240705"})["data"]["items"] != []
    server.configure(now="2024-07-05T17:00:00+08:00")
    assert _post(server, "daily", {"trade_date": "20240705"})["data"]["items"] != []
    assert _post(server, "daily_basic", {"trade_date": "20240705"})["data"]["items"] != []
    server.configure(now="2024-07-05T09:29:00+08:00")
    assert _post(server, "adj_factor", {"trade_date": "20240705"})["data"]["items"] == []


def test_the_per_minute_limit_counts_rejected_calls(server):
    server.configure(rate_limits={"trade_cal": 3}, rate_window_seconds=1.0)
    codes = [_post(server, "trade_cal", {"start_date": "20240701", "end_date": "20240701"})["code"] for _ in range(5)]
    assert codes == [0, 0, 0, 40203, 40203]
    rejected = _post(server, "trade_cal", {"start_date": "20240701", "end_date": "20240701"})
    assert rejected["msg"].startswith("抱歉，您每分钟最多访问该接口3次")
    time.sleep(1.1)
    assert _post(server, "trade_cal", {"start_date": "20240701", "end_date": "20240701"})["code"] == 0


def test_it_only_binds_to_loopback():
    with pytest.raises(ValueError, match="loopback"):
        make_server(ServerConfig(n_stocks=10), host="0.0.0.0")


@pytest.fixture(scope="module")
def market() -> SyntheticMarket:
    return SyntheticMarket(n_stocks=800, seed=7, calendar_until=date(2025, 12, 31))


def test_codes_boards_and_listing_statuses(market):
    stocks = market.stocks(date(2025, 6, 30))
    suffix_by_board = {spec["market"] + spec["exchange"]: spec["suffix"] for spec in BOARDS.values()}
    assert all(row["ts_code"].endswith(suffix_by_board[row["market"] + row["exchange"]]) for row in stocks)
    assert {row["list_status"] for row in stocks} == {"L", "D", "P"}
    assert all(row["delist_date"] for row in stocks if row["list_status"] == "D")
    assert all("合成" in row["name"] for row in stocks)  # labelled synthetic in the data itself


def test_bars_respect_limits_ohlc_and_ex_rights_pre_close(market):
    everyone = market.index
    days = range(market.day_index(date(2024, 1, 2)), market.day_index(date(2024, 12, 31)))
    previous_close: dict[str, float] = {}
    previous_adj: dict[str, float] = {}
    ex_dates = 0
    for t in days:
        bars = market.daily(t, everyone)
        factors = dict(zip(market.adj_factor(t, everyone)["ts_code"], market.adj_factor(t, everyone)["adj_factor"]))
        limits = market.limit[np.isin(market.ts_code, bars["ts_code"])]
        assert np.all(np.abs(bars["pct_chg"]) <= limits * 100 + 0.2)
        assert np.all(
            (bars["low"] <= np.minimum(bars["open"], bars["close"]))
            & (np.maximum(bars["open"], bars["close"]) <= bars["high"])
        )
        assert np.all(bars["vol"] >= 0)
        for code, close, pre_close in zip(bars["ts_code"], bars["close"], bars["pre_close"]):
            if code in previous_close:
                restated = previous_close[code] * previous_adj[code] / factors[code]
                assert abs(pre_close - restated) <= 0.011 + restated * 0.001
                ex_dates += previous_adj[code] != factors[code]
            previous_close[code], previous_adj[code] = close, factors[code]
    assert ex_dates > 100  # the factor does step, and pre_close follows it


def test_suspended_and_delisted_stocks_have_no_bars_but_listed_ones_have_factors(market):
    t = market.day_index(date(2024, 7, 5))
    listed = set(market.adj_factor(t, market.index)["ts_code"])
    traded = set(market.daily(t, market.index)["ts_code"])
    assert traded < listed
    delisted = [i for i in market.index if market.delist_idx[i] <= t]
    assert delisted and not {market.ts_code[i] for i in delisted} & listed


def test_the_same_date_is_generated_identically_every_time(market):
    t = market.day_index(date(2024, 7, 5))
    first, second = market.daily(t, market.index), market.daily(t, market.index)
    generated = [name for name in API_MODELS["daily"].default_field_names if name != "trade_date"]
    assert all(np.array_equal(first[name], second[name]) for name in generated)


# -- the double's own model and the switches that reproduce the real service -------------------------------------


def _records(answer) -> list[dict]:
    assert answer["code"] == 0, answer["msg"]
    return [dict(zip(answer["data"]["fields"], item, strict=True)) for item in answer["data"]["items"]]


def test_params_null_empty_or_unknown_are_not_given_and_empty_fields_mean_the_default_ones(server):
    params = {"trade_date": "20240705", "ts_code": "", "offset": None, "ts_type_name": "http://x/dataapi"}
    answer = _post(server, "daily", params)
    assert answer["data"]["fields"] == list(API_MODELS["daily"].default_field_names)
    assert "ah_vol" not in answer["data"]["fields"]  # a real field, but not in the default output
    assert len(answer["data"]["items"]) > 200  # the whole market: "" ts_code is no filter
    assert _post(server, "daily", {"trade_date": "20240705"}, fields=" ts_code , close")["data"]["fields"] == [
        "ts_code",
        "close",
    ]


def test_required_parameters_are_refused_with_the_real_code(server):
    refused = _post(server, "income", {"start_date": "20240101"})
    assert (refused["code"], refused["msg"], refused["data"]) == (40101, "ts_code required", None)
    assert _post(server, "daily_basic", {"start_date": "20240701"})["code"] == 40101
    assert _post(server, "disclosure_date", {})["code"] == 40101
    assert _post(server, "income_vip", {"period": "20231231"}, fields="ts_code")["code"] == 0


def test_fina_indicator_defaults_leave_out_update_flag_and_statements_answer_report_type_1(server):
    indicator = _post(server, "fina_indicator", {"ts_code": _first_code(server)})
    assert "update_flag" not in indicator["data"]["fields"] and "q_profit_yoy" not in indicator["data"]["fields"]
    income = _records(_post(server, "income", {"ts_code": _first_code(server)}, fields="report_type,update_flag"))
    assert income and {row["report_type"] for row in income} == {"1"}
    assert _post(server, "income", {"ts_code": _first_code(server), "report_type": "5"})["data"]["items"] == []


def _first_code(server) -> str:
    return _post(server, "stock_basic", {}, fields="ts_code")["data"]["items"][0][0]


def test_drop_fields_and_omit_update_flag_remove_requested_fields(server):
    retired = ["q_profit_yoy", "q_profit_qoq", "q_netprofit_yoy", "q_netprofit_qoq"]
    server.configure(drop_fields={"fina_indicator": retired}, omit_update_flag=["fina_indicator"])
    asked = "ts_code,end_date,roe," + ",".join(retired) + ",update_flag"
    answer = _post(server, "fina_indicator", {"ts_code": _first_code(server)}, fields=asked)
    assert answer["data"]["fields"] == ["ts_code", "end_date", "roe"]
    assert all(len(item) == 3 for item in answer["data"]["items"])
    income = _post(server, "income", {"ts_code": _first_code(server)}, fields="ts_code,update_flag")
    assert income["data"]["fields"] == ["ts_code", "update_flag"]


def test_a_lower_cap_and_lie_has_more_truncate_silently(server):
    server.configure(row_caps={"daily": 100}, lie_has_more=["daily"])
    answer = _post(server, "daily", {"trade_date": "20240705"}, fields="ts_code")
    assert len(answer["data"]["items"]) == 100 and answer["data"]["has_more"] is False


def test_has_more_when_full_reports_more_at_exactly_the_page_size(server):
    everything = len(_post(server, "daily", {"trade_date": "20240705"}, fields="ts_code")["data"]["items"])
    exact = {"trade_date": "20240705", "limit": everything}
    assert _post(server, "daily", exact, fields="ts_code")["data"]["has_more"] is False
    server.configure(has_more_when_full=["*"])
    assert _post(server, "daily", exact, fields="ts_code")["data"]["has_more"] is True


def test_ignore_offset_answers_the_first_page_again(server):
    server.configure(ignore_offset=["daily"])
    first = _post(server, "daily", {"trade_date": "20240705", "limit": 50}, fields="ts_code")
    second = _post(server, "daily", {"trade_date": "20240705", "limit": 50, "offset": 50}, fields="ts_code")
    assert first["data"]["items"] == second["data"]["items"] and second["data"]["has_more"] is True


def test_unsorted_whole_market_answers_are_shuffled_deterministically(server):
    sorted_codes = [row[0] for row in _post(server, "daily", {"trade_date": "20240705"}, "ts_code")["data"]["items"]]
    server.configure(unsorted=["daily"])
    shuffled = [row[0] for row in _post(server, "daily", {"trade_date": "20240705"}, "ts_code")["data"]["items"]]
    again = [row[0] for row in _post(server, "daily", {"trade_date": "20240705"}, "ts_code")["data"]["items"]]
    assert shuffled == again and shuffled != sorted_codes and sorted(shuffled) == sorted_codes


def test_several_codes_answer_nothing_on_income_but_both_stocks_on_fina_indicator(server):
    first, second = [row[0] for row in _post(server, "stock_basic", {}, fields="ts_code")["data"]["items"][:2]]
    both = {"ts_code": f"{first},{second}"}
    empty = _post(server, "income", both, fields="ts_code")
    assert (empty["code"], empty["data"]["items"], empty["data"]["has_more"]) == (0, [], False)
    assert {row[0] for row in _post(server, "fina_indicator", both, fields="ts_code")["data"]["items"]} == {
        first,
        second,
    }
    server.configure(multi_code_statements_empty=False)
    assert {row[0] for row in _post(server, "income", both, fields="ts_code")["data"]["items"]} == {first, second}


def test_trade_cal_uncapped_answers_the_whole_calendar_in_one_call(server):
    capped = _post(server, "trade_cal", {})
    assert len(capped["data"]["items"]) == 10000 and capped["data"]["has_more"] is True
    server.configure(trade_cal_uncapped=True)
    whole = _post(server, "trade_cal", {})
    assert len(whole["data"]["items"]) > 13000 and whole["data"]["has_more"] is False
    assert whole["data"]["items"][-1][1] == "19901219"


def test_the_2026_envelope_has_a_dashed_request_id_a_count_and_a_detail(server):
    server.configure(envelope_2026=True)
    answer = _post(server, "trade_cal", {"start_date": "20240701", "end_date": "20240705"})
    assert uuid.UUID(answer["request_id"]).version == 4 and answer["request_id"].count("-") == 4
    assert answer["detail"] == "" and answer["data"]["count"] == -1
    refused = _post(server, "daily", {}, token="bad")
    assert refused["data"] is None and refused["detail"] == "" and "-" in refused["request_id"]


def test_rate_limit_wordings_and_the_daily_quota(server):
    params = {"start_date": "20240701", "end_date": "20240701"}
    server.configure(daily_quotas={"trade_cal": 2})
    codes = [_post(server, "trade_cal", params)["code"] for _ in range(2)]
    refused = _post(server, "trade_cal", params)
    assert codes == [0, 0] and refused["code"] == 40203
    assert (
        refused["msg"]
        == "抱歉，您每天最多访问该接口2次，权限的具体详情访问：https://tushare.pro/document/1?doc_id=108。"
    )
    server.configure(rate_limit_wording="2026", daily_quotas={"trade_cal": 0}, rate_limits={"daily": 1})
    assert _post(server, "trade_cal", params)["msg"] == (
        "抱歉，您访问接口(trade_cal)频率超限(0次/天)，具体频次详情：https://tushare.pro/document/1?doc_id=108。"
    )
    _post(server, "daily", {"trade_date": "20240705"}, fields="ts_code")
    assert _post(server, "daily", {"trade_date": "20240705"})["msg"] == (
        "抱歉，您访问接口(daily)频率超限(1次/分钟)，具体频次详情：https://tushare.pro/document/1?doc_id=108。"
    )


STATEMENT_HEAD = "ts_code,end_date,ann_date,f_ann_date,report_type,update_flag,total_revenue,ebit"


def test_restatements_serve_type_1_restated_type_5_original_and_type_4_comparatives(server):
    period = {"period": "20220331"}
    assert _post(server, "income_vip", period | {"report_type": "5"})["data"]["items"] == []
    server.configure(restatements=True)
    originals = _records(_post(server, "income_vip", period | {"report_type": "5"}, fields=STATEMENT_HEAD))
    assert 0.05 < len(originals) / len(_records(_post(server, "income_vip", period, fields="ts_code"))) < 0.25
    original = originals[0]
    code = {"ts_code": original["ts_code"], "period": "20220331"}
    (restated,) = _records(_post(server, "income", code, fields=STATEMENT_HEAD))
    (comparative,) = _records(_post(server, "income", code | {"report_type": "4"}, fields=STATEMENT_HEAD))
    assert original["ann_date"] == original["f_ann_date"] == restated["f_ann_date"] < restated["ann_date"]
    assert restated["ebit"] != original["ebit"]
    assert comparative["ann_date"] == restated["ann_date"] and comparative["ebit"] == restated["ebit"]
    # Before the restatement was announced: only the original, as type 1.
    server.configure(now=f"{int(restated['ann_date'][:4])}-01-01T12:00:00+08:00")
    (before,) = _records(_post(server, "income", code, fields=STATEMENT_HEAD))
    assert before | {"report_type": "5"} == original | {"update_flag": before["update_flag"]}
    assert _post(server, "income", code | {"report_type": "5"})["data"]["items"] == []


def test_same_date_corrections_share_the_dates_and_appear_later(server):
    server.configure(same_date_corrections=True, correction_lag_days=30)
    rows = _records(_post(server, "income_vip", {"period": "20220630"}, fields=STATEMENT_HEAD))
    by_code: dict[str, list[dict]] = {}
    for row in rows:
        by_code.setdefault(row["ts_code"], []).append(row)
    same_dates = (rows for rows in by_code.values() if len(rows) == 2 and rows[0]["ann_date"] == rows[1]["ann_date"])
    pair = next(rows for rows in same_dates if {row["update_flag"] for row in rows} == {"0", "1"})
    original, correction = sorted(pair, key=lambda row: row["update_flag"])
    assert (original["ann_date"], original["f_ann_date"]) == (correction["ann_date"], correction["f_ann_date"])
    assert {name for name in original if original[name] != correction[name]} == {"update_flag", "ebit"}
    announced = date.fromisoformat(f"{original['ann_date'][:4]}-{original['ann_date'][4:6]}-{original['ann_date'][6:]}")
    server.configure(now=f"{announced + timedelta(days=29)}T23:00:00+08:00")
    code = {"ts_code": original["ts_code"], "period": "20220630"}
    (alone,) = _records(_post(server, "income", code, fields=STATEMENT_HEAD))
    assert alone == original | {"update_flag": "1"}


def test_fina_indicator_corrections_flip_the_sign_of_fcff(server):
    server.configure(same_date_corrections=True)
    rows = _records(_post(server, "fina_indicator_vip", {"period": "20220630"}, fields="ts_code,ann_date,roe,fcff"))
    versions = [(row["ts_code"], row["ann_date"]) for row in rows]
    pairs = [[row for row in rows if (row["ts_code"], row["ann_date"]) == key] for key in set(versions)]
    first, second = next(pair for pair in pairs if len(pair) == 2 and pair[0] != pair[1])
    assert first["fcff"] == -second["fcff"] and first | {"fcff": 0} == second | {"fcff": 0}


def test_f_ann_after_ann_dates_some_versions_months_later(server):
    server.configure(f_ann_after_ann=True)
    rows = _records(_post(server, "income_vip", {"period": "20220331"}, fields="ts_code,ann_date,f_ann_date"))
    late = [row for row in rows if row["f_ann_date"] > row["ann_date"]]
    assert late and all(int(row["f_ann_date"][:6]) - int(row["ann_date"][:6]) >= 3 for row in late)


# -- issue 10: suspensions, limits, names, dividends, indexes and industries ---------------------------------------

ISSUE_10_CALLS = {
    "suspend_d": {"trade_date": "20240712"},
    "stk_limit": {"trade_date": "20240712"},
    "namechange": {},
    "dividend": {"ann_date": "20240708"},
    "index_basic": {},
    "index_daily": {"ts_code": "000300.SH"},
    "index_weight": {"index_code": "000300.SH", "trade_date": "20240701"},
    "index_classify": {"src": "SW2021"},
    "index_member_all": {},
}


def _all_records(server, api_name, params, fields="") -> list[dict]:
    """Every row of a request, page by page (offset), as records."""
    rows, offset = [], 0
    while True:
        answer = _post(server, api_name, params | {"offset": offset}, fields=fields)
        page = _records(answer)
        rows += page
        offset += len(page)
        if not answer["data"]["has_more"]:
            return rows


def _day(text: str) -> date:
    return date(int(text[:4]), int(text[4:6]), int(text[6:]))


def test_issue_10_apis_answer_their_default_fields_and_need_their_points(server):
    server.configure(tokens={server.token: 5000, "low-points-token": 120})
    for api_name, params in ISSUE_10_CALLS.items():
        answer = _post(server, api_name, params)
        assert answer["code"] == 0 and answer["data"]["items"], (api_name, answer["msg"])
        assert answer["data"]["fields"] == list(API_MODELS[api_name].default_field_names)
        refused = _post(server, api_name, params, token="low-points-token")
        assert refused["code"] == 40203 and refused["msg"].startswith(f"抱歉，您没有接口({api_name})访问权限")
    assert "pre_close" not in _post(server, "stk_limit", {"trade_date": "20240712"})["data"]["fields"]
    assert {name: API_MODELS[name].row_cap for name in ISSUE_10_CALLS} == {
        "suspend_d": 5000,
        "stk_limit": 5800,
        "namechange": 10000,
        "dividend": 2000,
        "index_basic": 8000,
        "index_daily": 8000,
        "index_weight": 6000,
        "index_classify": 2000,
        "index_member_all": 2000,
    }


def test_issue_10_required_parameters_and_what_answers_without_them(server):
    for api_name, message in (
        ("index_daily", "ts_code required"),
        ("index_weight", "index_code required"),
        ("dividend", "ts_code or ann_date or record_date or ex_date or imp_ann_date or end_date required"),
    ):
        refused = _post(server, api_name, {"start_date": "20240101"})
        assert (refused["code"], refused["msg"], refused["data"]) == (40101, message, None)
    # No parameter needed: the whole market (suspend_d, stk_limit, namechange), every index, the SW2014 list.
    assert {row["src"] for row in _records(_post(server, "index_classify", {}, fields="src"))} == {"SW2014"}
    assert len(_records(_post(server, "index_classify", {}))) == 28
    # SW industry indexes are not in index_daily (DOC-95); several codes answer nothing.
    assert _post(server, "index_daily", {"ts_code": "801010.SI"})["data"]["items"] == []
    assert _post(server, "index_daily", {"ts_code": "000300.SH,000905.SH"})["data"]["items"] == []


def test_stk_limit_is_capped_at_5800_newest_first(server):
    answer = _post(server, "stk_limit", {"start_date": "20240101", "end_date": "20240712"}, fields="trade_date,ts_code")
    dates = [row[0] for row in answer["data"]["items"]]
    assert len(dates) == 5800 and answer["data"]["has_more"] is True
    assert dates == sorted(dates, reverse=True) and dates[0] == "20240712" and "20240102" not in dates


def test_suspend_d_is_exactly_the_listed_stocks_without_a_daily_row(server):
    window = {"start_date": "20240601", "end_date": "20240712"}
    listed = {(r["ts_code"], r["trade_date"]) for r in _all_records(server, "adj_factor", window, "ts_code,trade_date")}
    traded = {(r["ts_code"], r["trade_date"]) for r in _all_records(server, "daily", window, "ts_code,trade_date")}
    rows = _all_records(server, "suspend_d", window)
    whole_day = {(r["ts_code"], r["trade_date"]) for r in rows if r["suspend_type"] == "S" and not r["suspend_timing"]}
    assert whole_day and whole_day == listed - traded
    resumed = [r for r in rows if r["suspend_type"] == "R"]
    assert resumed and all((r["ts_code"], r["trade_date"]) in traded for r in resumed)
    days = sorted({day for _, day in listed})
    for row in resumed:
        previous = days[days.index(row["trade_date"]) - 1] if row["trade_date"] != days[0] else None
        assert previous is None or (row["ts_code"], previous) in whole_day
    only_s = _records(_post(server, "suspend_d", window | {"suspend_type": "S"}))
    assert {row["suspend_type"] for row in only_s} == {"S"}
    # Day T's rows appear with daily's, at 17:00.
    server.configure(now="2024-07-12T16:59:00+08:00")
    assert _post(server, "suspend_d", {"trade_date": "20240712"})["data"]["items"] == []


def _half_up(value: float) -> float:
    return float(np.floor(value * 100 + 0.5 + 1e-9) / 100)


def test_stk_limit_brackets_the_daily_bar_with_the_board_and_st_limit(server):
    stocks = {row["ts_code"]: row for row in _records(_post(server, "stock_basic", {}, fields="ts_code,name,market"))}
    board_pct = {"主板": 0.10, "创业板": 0.20, "科创板": 0.20, "北交所": 0.30}
    st_seen = 0
    for day in ("20240708", "20240712"):
        fields = "ts_code,pre_close,up_limit,down_limit"
        limits = {r["ts_code"]: r for r in _records(_post(server, "stk_limit", {"trade_date": day}, fields=fields))}
        bars = _records(_post(server, "daily", {"trade_date": day}))
        assert bars and {bar["ts_code"] for bar in bars} <= set(limits)
        for bar in bars:
            limit = limits[bar["ts_code"]]
            assert limit["down_limit"] <= bar["low"] <= bar["close"] <= bar["high"] <= limit["up_limit"]
            assert limit["pre_close"] == bar["pre_close"]
            stock = stocks.get(bar["ts_code"])
            if stock is None:
                continue
            st = stock["market"] == "主板" and stock["name"].startswith(("ST", "*ST"))
            st_seen += st
            pct = 0.05 if st else board_pct[stock["market"]]
            assert limit["up_limit"] == _half_up(bar["pre_close"] * (1 + pct))
            assert limit["down_limit"] == _half_up(bar["pre_close"] * (1 - pct))
    assert st_seen  # some main-board stocks are ST on those days
    server.configure(now="2024-07-12T08:59:00+08:00")
    assert _post(server, "stk_limit", {"trade_date": "20240712"})["data"]["items"] == []


def test_namechange_current_name_is_stock_basics_and_st_periods_are_announced_first(server):
    rows = _all_records(server, "namechange", {})
    names = {}
    for status in ("L", "D", "P"):
        names |= {r["ts_code"]: r["name"] for r in _records(_post(server, "stock_basic", {"list_status": status}))}
    today = "20240712"
    by_code: dict[str, list[dict]] = {}
    for row in rows:
        by_code.setdefault(row["ts_code"], []).append(row)
    for code, name in names.items():
        history = sorted(by_code[code], key=lambda row: row["start_date"])
        current = [row for row in history if row["start_date"] <= today and (row["end_date"] or "99999999") >= today]
        assert [row["name"] for row in current] == [name]
        assert history[-1]["end_date"] is None
        for before, after in itertools.pairwise(history):  # consecutive, no overlap
            assert _day(before["end_date"]) + timedelta(days=1) == _day(after["start_date"])
    assert all(row["ann_date"] is None or row["ann_date"] <= row["start_date"] for row in rows)
    reasons = {row["change_reason"] for row in rows}
    assert {"其他", "ST", "*ST", "改名"} <= reasons and reasons & {"撤销ST", "撤销*ST"}
    assert any(name.startswith(("ST", "*ST")) for name in names.values())
    for row in rows:
        if row["change_reason"] in ("ST", "*ST"):
            assert row["name"].startswith(row["change_reason"])
    # start_date/end_date filter the announcement and drop rows without one (#1858).
    assert any(row["ann_date"] is None for row in rows)
    dated = _records(_post(server, "namechange", {"start_date": "19900101", "end_date": "20991231"}))
    assert len(dated) == sum(row["ann_date"] is not None for row in rows)


def test_dividend_events_are_the_adj_factor_steps_with_consistent_amounts(server):
    stocks = [row["ts_code"] for row in _records(_post(server, "stock_basic", {}, fields="ts_code"))][:25]
    window = {"ts_code": ",".join(stocks), "start_date": "20190101", "end_date": "20240712"}
    factors: dict[str, list] = {}
    for row in _all_records(server, "adj_factor", window):
        factors.setdefault(row["ts_code"], []).append((row["trade_date"], row["adj_factor"]))
    daily = _all_records(server, "daily", window, "ts_code,trade_date,close,pre_close")
    bars = {(row["ts_code"], row["trade_date"]): row for row in daily}
    steps_seen = 0
    for code in stocks:
        series = sorted(factors.get(code, []))
        steps = {day for (_, before), (day, after) in itertools.pairwise(series) if before != after}
        rows = _records(_post(server, "dividend", {"ts_code": code}))
        implemented = [row for row in rows if row["div_proc"] == "实施"]
        first = series[0][0] if series else "99999999"
        assert {row["ex_date"] for row in implemented if first < row["ex_date"] <= "20240712"} == steps
        steps_seen += len(steps)
        stages: dict[tuple, set] = {}
        for row in rows:
            stages.setdefault((row["end_date"], row["ann_date"]), set()).add(row["div_proc"])
        assert all(found <= {"预案", "股东大会通过", "实施"} for found in stages.values())
        days = sorted(day for stock, day in bars if stock == code)
        for row in implemented:
            assert row["ann_date"] < row["imp_ann_date"] < row["record_date"] < row["ex_date"] == row["pay_date"]
            assert row["stk_div"] == (row["stk_bo_rate"] or 0) + (row["stk_co_rate"] or 0)
            if (code, row["ex_date"]) not in bars or days.index(row["ex_date"]) == 0:
                continue
            previous_close = bars[(code, days[days.index(row["ex_date"]) - 1])]["close"]
            ex_rights = (previous_close - row["cash_div_tax"]) / (1 + row["stk_div"])
            assert abs(ex_rights - bars[(code, row["ex_date"])]["pre_close"]) <= 0.011 + 0.002 * ex_rights
    assert steps_seen > 20
    # A stage appears on its announcement day (21:00): a plan announced on 20240708 is unknown the day before.
    plans = _records(_post(server, "dividend", {"ann_date": "20240708"}))
    assert plans and {row["div_proc"] for row in plans} == {"预案"}
    server.configure(now="2024-07-08T20:59:00+08:00")
    assert _post(server, "dividend", {"ann_date": "20240708"})["data"]["items"] == []


def test_index_basic_lists_the_broad_indexes_and_sw_level_1(server):
    rows = _records(_post(server, "index_basic", {}))
    codes = {row["ts_code"] for row in rows}
    assert {"000001.SH", "000300.SH", "000905.SH", "399001.SZ", "399006.SZ"} <= codes
    assert len([row for row in rows if row["market"] == "SW"]) == 31
    assert {row["ts_code"] for row in _records(_post(server, "index_basic", {"market": "SZSE"}))} == {
        "399001.SZ",
        "399006.SZ",
    }


def test_index_weight_is_monthly_sums_to_100_and_draws_from_the_right_exchange(server):
    listed = {row["ts_code"] for row in _records(_post(server, "stock_basic", {}, fields="ts_code"))}
    for index_code, suffixes in (("000300.SH", (".SH", ".SZ")), ("399001.SZ", (".SZ",)), ("000001.SH", (".SH",))):
        rows = _records(_post(server, "index_weight", {"index_code": index_code, "start_date": "20240101"}))
        by_date: dict[str, list[dict]] = {}
        for row in rows:
            by_date.setdefault(row["trade_date"], []).append(row)
        assert len(by_date) == 7 and max(by_date) == "20240701"  # one date per month, each month's first trading day
        assert len({day[:6] for day in by_date}) == 7
        for members in by_date.values():
            assert abs(sum(row["weight"] for row in members) - 100) < 0.01
            assert all(row["con_code"].endswith(suffixes) for row in members)
        assert {row["con_code"] for row in by_date["20240701"]} <= listed
    chinext = _records(_post(server, "index_weight", {"index_code": "399006.SZ", "trade_date": "20240701"}))
    assert chinext and all(row["con_code"][:3] in ("300", "301") for row in chinext)
    # A month's weights appear the day after its date.
    server.configure(now="2024-07-01T23:59:00+08:00")
    assert _post(server, "index_weight", {"index_code": "000300.SH", "trade_date": "20240701"})["data"]["items"] == []


def test_index_daily_is_the_cap_weighted_return_of_its_constituents(server):
    rows = _records(_post(server, "index_daily", {"ts_code": "000300.SH", "start_date": "20240601"}))
    assert [row["trade_date"] for row in rows] == sorted((row["trade_date"] for row in rows), reverse=True)
    assert rows[0]["trade_date"] == "20240711"  # 18:00 on the 12th: published at 19:00
    for newer, older in itertools.pairwise(rows):
        assert newer["pre_close"] == older["close"]
        assert newer["low"] <= min(newer["open"], newer["close"]) <= max(newer["open"], newer["close"]) <= newer["high"]
    weights = _post(server, "index_weight", {"index_code": "000300.SH", "trade_date": "20240701"})
    members = {row["con_code"] for row in _records(weights)}
    for row in rows[:5]:
        day = {"trade_date": row["trade_date"]}
        bars = {bar["ts_code"]: bar for bar in _records(_post(server, "daily", day)) if bar["ts_code"] in members}
        shares = {r["ts_code"]: r["total_share"] for r in _records(_post(server, "daily_basic", day))}
        moved = sum(shares[code] * (bar["close"] - bar["pre_close"]) for code, bar in bars.items())
        base = sum(shares[code] * bar["pre_close"] for code, bar in bars.items())
        assert abs(moved / base * 100 - row["pct_chg"]) < 0.02
        assert abs(sum(bar["vol"] for bar in bars.values()) - row["vol"]) < 1
    server.configure(now="2024-07-12T19:00:00+08:00")
    assert _post(server, "index_daily", {"ts_code": "000300.SH", "trade_date": "20240712"})["data"]["items"]


def test_index_classify_sw2021_levels_and_parents(server):
    fields = "index_code,level,industry_code,parent_code,industry_name"
    rows = _records(_post(server, "index_classify", {"src": "SW2021"}, fields=fields))
    by_level = {level: [row for row in rows if row["level"] == level] for level in ("L1", "L2", "L3")}
    assert [len(by_level[level]) for level in ("L1", "L2", "L3")] == [31, 134, 346]
    codes = {row["industry_code"]: row for row in rows}
    assert all(row["parent_code"] == "0" for row in by_level["L1"])
    assert all(codes[row["parent_code"]]["level"] == "L1" for row in by_level["L2"])
    assert all(codes[row["parent_code"]]["level"] == "L2" for row in by_level["L3"])
    assert [row["industry_code"] for row in rows] == sorted(row["industry_code"] for row in rows)
    assert len(_records(_post(server, "index_classify", {"src": "SW2021", "level": "L2", "parent_code": "240000"})))


def test_index_member_all_puts_every_listed_stock_in_one_level_1_industry_at_any_date(server):
    current = _all_records(server, "index_member_all", {})
    past = _all_records(server, "index_member_all", {"is_new": "N"})
    assert {row["is_new"] for row in current} == {"Y"} and past and {row["is_new"] for row in past} == {"N"}
    classify = _records(_post(server, "index_classify", {"src": "SW2021"}, fields="index_code,industry_name,level"))
    l1 = {row["index_code"]: row["industry_name"] for row in classify if row["level"] == "L1"}
    l3 = {row["index_code"] for row in classify if row["level"] == "L3"}
    assert all(l1[row["l1_code"]] == row["l1_name"] and row["l3_code"] in l3 for row in current + past)
    stocks = _records(_post(server, "stock_basic", {"list_status": "L,P"}, fields="ts_code,name,list_date"))
    assert sorted(row["ts_code"] for row in current if "(退市)" not in row["name"]) == sorted(
        row["ts_code"] for row in stocks
    )
    history: dict[str, list[dict]] = {}
    for row in current + past:
        history.setdefault(row["ts_code"], []).append(row)
    for stock in stocks:
        periods = sorted(history[stock["ts_code"]], key=lambda row: row["in_date"])
        assert periods[0]["in_date"] == stock["list_date"] and periods[-1]["out_date"] is None
        for before, after in itertools.pairwise(periods):  # a row covers in_date <= d < out_date
            assert before["out_date"] == after["in_date"] and before["l1_code"] != after["l1_code"]
    assert {row["name"] for row in current if row["ts_code"] in {s["ts_code"] for s in stocks}} == {
        stock["name"] for stock in stocks
    }
