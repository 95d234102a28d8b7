"""The synthetic server behaves like the real service where a sync can go wrong."""

import time
from datetime import date

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
