"""The synthetic server behaves like the real service where a sync can go wrong."""

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
