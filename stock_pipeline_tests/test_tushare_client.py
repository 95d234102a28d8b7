"""The client against the real synthetic server process: every failure kind, over real HTTP."""

import re

import pytest

from stock_pipeline.datasets import DAILY
from stock_pipeline.tushare.client import TushareClient
from stock_pipeline.tushare.errors import (
    TushareAuthError,
    TushareError,
    TushareParameterError,
    TusharePermissionError,
    TushareQuotaError,
    TushareRateLimitError,
    TushareServerError,
    TushareUnavailableError,
    TushareUnknownApiError,
    TushareUnreachableError,
    classify,
)
from stock_pipeline_tests.conftest import SERVER_NOW, TEST_TOKEN
from tushare_double.app import ServerConfig
from tushare_double.launcher import ServerProcess

TRADE_DATE = {"trade_date": "20240705"}


def _client(server, **overrides) -> TushareClient:
    settings = {
        "timeout": 5.0,
        "max_attempts": 4,
        "backoff_seconds": 0.01,
        "max_backoff_seconds": 0.05,
        "rate_limit_cooldown_seconds": 0.05,
    } | overrides
    return TushareClient(server.token, server.url, **settings)


def _complete_daily(server) -> list:
    return _client(server).query("daily", TRADE_DATE, DAILY.fields, DAILY.row_cap).items


@pytest.mark.parametrize("fault", ["http_500", "http_503", "reset", "truncated_json", "server_busy", "rate_limited"])
def test_transient_faults_are_retried_to_the_complete_answer(server, fault):
    expected = _complete_daily(server)
    server.configure(faults=[{"api": "daily", "kind": fault, "times": 2}])
    client = _client(server)

    answer = client.query("daily", TRADE_DATE, DAILY.fields, DAILY.row_cap)

    assert answer.items == expected
    assert client.stats.retries["daily"] == 2
    assert server.stats()["faults"] == {fault: 2}


def test_a_slow_answer_past_the_timeout_is_retried(server):
    expected = _complete_daily(server)
    server.configure(faults=[{"api": "daily", "kind": "slow", "times": 1}], slow_seconds=2.0)
    client = _client(server, timeout=0.5)

    assert client.query("daily", TRADE_DATE, DAILY.fields, DAILY.row_cap).items == expected
    assert client.stats.errors["TushareTransportError"] == 1


def test_persistent_failure_ends_with_a_clear_error_after_the_last_attempt(server):
    server.configure(faults=[{"api": "daily", "kind": "http_503", "times": 10}])
    client = _client(server, max_attempts=3)

    with pytest.raises(TushareUnavailableError, match=r"still failing after 3 attempts.*HTTP 503"):
        client.query("daily", TRADE_DATE, DAILY.fields)
    assert server.stats()["faults"]["http_503"] == 3


def test_unreachable_url_names_the_setting_to_check():
    client = TushareClient(TEST_TOKEN, "http://127.0.0.1:9/dataapi", max_attempts=2, backoff_seconds=0.01)

    refused = r"cannot reach http://127.0.0.1:9/dataapi \(connection refused\): set TUSHARE_API_URL"
    # Not an "unavailable" error: nothing has ever answered there, so retrying cannot help.
    with pytest.raises(TushareUnreachableError, match=refused):
        client.query("daily", TRADE_DATE)
    assert client.stats.calls["daily"] == 1


def test_wrong_base_url_fails_at_once_on_http_404(server):
    client = _client(server)
    client_404 = TushareClient(server.token, f"{server.base}/_admin", max_attempts=4)

    with pytest.raises(TushareError, match=r"HTTP 404.*TUSHARE_API_URL"):
        client_404.query("daily", TRADE_DATE)
    assert client_404.stats.calls["daily"] == 1
    assert client.stats.total_calls() == 0


@pytest.mark.parametrize(
    ("api_name", "token", "error", "message"),
    [
        ("daily", "wrong-token", TushareAuthError, "您的token不对，请确认。"),
        ("no_such_api", TEST_TOKEN, TushareUnknownApiError, "请指定正确的接口名"),
        ("adj_factor", "low-points-token", TusharePermissionError, "抱歉，您没有接口(adj_factor)访问权限"),
    ],
)
def test_terminal_errors_fail_once_without_retry(api_name, token, error, message):
    config = ServerConfig(tokens={TEST_TOKEN: 5000, "low-points-token": 120}, n_stocks=50, now=SERVER_NOW)
    with ServerProcess(config) as server:
        client = TushareClient(token, server.url, max_attempts=5, backoff_seconds=0.01)
        with pytest.raises(error, match=re.escape(message)):
            client.query(api_name, TRADE_DATE)
        assert client.stats.total_calls() == 1
        assert sum(server.stats()["rejected"].values()) == 1


def test_missing_token_fails_before_any_call(server):
    client = TushareClient("  ", server.url)

    with pytest.raises(TushareAuthError, match="set the TUSHARE_TOKEN environment variable"):
        client.query("daily", TRADE_DATE)
    assert server.stats()["calls"] == {}


def test_an_answer_without_a_requested_field_says_so_instead_of_failing(server):
    # The real service drops unknown and retired fields silently: the frame reports them.
    answer = _client(server).query("daily", TRADE_DATE, (*DAILY.fields, "no_such_field"))

    assert answer.missing_fields == ("no_such_field",)
    assert answer.fields == DAILY.fields and len(answer) > 0


def test_has_more_pages_use_offset_and_limit(server):
    expected = _complete_daily(server)
    server.configure(row_caps={"daily": 40})
    client = _client(server)

    answer = client.query("daily", TRADE_DATE, DAILY.fields, row_cap=40)

    assert answer.items == expected
    assert client.stats.calls["daily"] == -(-len(expected) // 40)


@pytest.mark.parametrize(
    ("code", "msg", "error"),
    [
        (40101, "您的token不对，请确认。", TushareAuthError),
        (
            40203,
            "抱歉，您没有接口访问权限，权限的具体详情访问：https://tushare.pro/document/1?doc_id=108。",
            TusharePermissionError,
        ),
        (
            40203,
            "抱歉，您每分钟最多访问该接口200次，权限的具体详情访问：https://tushare.pro/document/1?doc_id=108。",
            TushareRateLimitError,
        ),
        (
            40203,
            "抱歉，您访问接口(stk_limit)频率超限(400次/分钟)，具体频次详情：https://tushare.pro/document/1?doc_id=108。",
            TushareRateLimitError,
        ),
        (
            40203,
            "抱歉，您访问接口(us_daily)频率超限(5次/天)，具体频次详情：https://tushare.pro/document/1?doc_id=108。",
            TushareQuotaError,
        ),
        (40203, "抱歉，您每天最多访问该接口2次", TushareQuotaError),
        (40101, "ts_code required", TushareParameterError),
        (-1, "请指定正确的接口名", TushareUnknownApiError),
        (-2001, "抱歉，没有pro_bar接口", TushareUnknownApiError),
        (-2001, "接口trade_cal不包含字段exchange_id", TushareParameterError),
        (-2002, "您的IP数量超限，最大数量为2个！", TusharePermissionError),
        (50101, "服务器错误(数据库异常)，请稍后再试！期待您能把错误反馈给我们，谢谢！", TushareServerError),
        (1, "系统未知错误，欢迎上报！ 谢谢！request-id(4c374d10)", TushareServerError),
    ],
)
def test_error_messages_map_to_what_they_mean(code, msg, error):
    classified = classify(code, msg, "daily")
    assert type(classified) is error
    assert msg in str(classified)
