"""The market-data foundation end to end: real HTTP to the synthetic server, a real warehouse."""

from datetime import date

import dagster as dg
import pandas as pd
import sqlalchemy as sa
import tushare

from stock_pipeline.datasets import ADJ_FACTOR, DAILY, DAILY_BASIC, STOCK_BASIC, TRADE_CAL, TRADE_DATE_DATASETS
from stock_pipeline.defs.market import checks
from stock_pipeline.defs.market.assets import trade_date_assets
from stock_pipeline.defs.market.partitions import build_trading_days
from stock_pipeline.warehouse import TABLES, Warehouse
from stock_pipeline_tests.conftest import (
    failure_message,
    make_resources,
    materialize_dates,
    materialize_reference,
    run_summary,
    server_items,
    table_rows,
)

DAILY_ASSET = next(asset for asset in trade_date_assets if asset.key.path == ["daily"])
# Monday 2024-07-01 .. Friday 2024-07-05 are open days in the synthetic calendar.
FIRST, LAST = "2024-07-01", "2024-07-05"
OPEN_DAYS = [date(2024, 7, day) for day in range(1, 6)]


def _expected_daily(server, day: date) -> list[tuple]:
    items = server_items(server, "daily", {"trade_date": day.strftime("%Y%m%d")}, DAILY.fields)
    return sorted((row[0], day, *row[2:]) for row in items)


def test_reference_data_holds_every_listing_status_and_real_types(server, warehouse_url):
    resources = make_resources(server, warehouse_url)
    assert materialize_reference(resources).success

    stocks = table_rows(warehouse_url, STOCK_BASIC)
    statuses = {row[STOCK_BASIC.fields.index("list_status")] for row in stocks}
    assert statuses == {"L", "D", "P"}
    expected = sum(len(server_items(server, "stock_basic", {"list_status": status}, ("ts_code",))) for status in "LDP")
    assert len(stocks) == expected
    delisted = [row for row in stocks if row[STOCK_BASIC.fields.index("list_status")] == "D"]
    assert all(isinstance(row[STOCK_BASIC.fields.index("delist_date")], date) for row in delisted)
    assert {row[0][-2:] for row in stocks} == {"SH", "SZ", "BJ"}

    engine = sa.create_engine(warehouse_url)
    columns = {column["name"]: column["type"] for column in sa.inspect(engine).get_columns("daily")}
    engine.dispose()
    assert isinstance(columns["trade_date"], sa.Date)
    assert isinstance(columns["close"], sa.Float)


def test_dates_sync_completely_and_rerun_is_idempotent(server, warehouse_url):
    resources = make_resources(server, warehouse_url)
    assert materialize_reference(resources).success

    first = materialize_dates(trade_date_assets, resources, FIRST, LAST)
    assert first.success
    snapshot = {dataset.api_name: table_rows(warehouse_url, dataset) for dataset in (DAILY, ADJ_FACTOR, DAILY_BASIC)}
    calls_after_first = server.stats()["calls"]

    second = materialize_dates(trade_date_assets, resources, FIRST, LAST)
    assert second.success
    for dataset in (DAILY, ADJ_FACTOR, DAILY_BASIC):
        assert table_rows(warehouse_url, dataset) == snapshot[dataset.api_name]
        # Exactly one call per date and endpoint in each run: no page was needed under the cap.
        assert calls_after_first[dataset.api_name] == len(OPEN_DAYS)
        assert server.stats()["calls"][dataset.api_name] == 2 * len(OPEN_DAYS)
    for day in OPEN_DAYS:
        assert table_rows(warehouse_url, DAILY, day) == _expected_daily(server, day)

    metadata = run_summary(second, "daily")
    assert metadata["rows"].value == len(snapshot["daily"])
    assert metadata["api_calls"].value == len(OPEN_DAYS)
    assert metadata["source"].value.startswith("SYNTHETIC")
    checks = {evaluation.check_name: evaluation.passed for evaluation in second.get_asset_check_evaluations()}
    assert checks == {
        "upstream_fields": True,
        "unique_keys": True,
        "rows_vs_listed": True,
        "ohlc_sanity": True,
    }


def test_answers_over_a_small_row_cap_are_paged_to_completion(server, warehouse_url):
    resources = make_resources(server, warehouse_url)
    assert materialize_reference(resources).success
    server.configure(row_caps={"daily": 70})

    result = materialize_dates([DAILY_ASSET], resources, FIRST, FIRST)

    assert result.success
    expected = _expected_daily(server, OPEN_DAYS[0])
    assert len(expected) > 3 * 70
    assert table_rows(warehouse_url, DAILY, OPEN_DAYS[0]) == expected
    metadata = run_summary(result, "daily")
    assert metadata["pages"].value == -(-len(expected) // 70) - 1


def test_http_500_is_retried_where_the_official_client_returns_an_empty_frame(server, warehouse_url):
    resources = make_resources(server, warehouse_url)
    assert materialize_reference(resources).success

    server.configure(faults=[{"api": "daily", "kind": "http_500", "times": 1}])
    official = tushare.pro_api(server.token)
    official._DataApi__http_url = server.url
    frame = official.daily(trade_date="20240701")
    assert isinstance(frame, pd.DataFrame) and frame.empty  # the data loss this project exists to prevent

    server.configure(faults=[{"api": "daily", "kind": "http_500", "times": 2}])
    result = materialize_dates([DAILY_ASSET], resources, FIRST, FIRST)

    assert result.success
    assert table_rows(warehouse_url, DAILY, OPEN_DAYS[0]) == _expected_daily(server, OPEN_DAYS[0])
    assert run_summary(result, "daily")["retries"].value == 2


def test_server_rate_limit_answers_cool_down_and_complete(server, warehouse_url):
    resources = make_resources(server, warehouse_url, rate_limit_cooldown_seconds=2.5)
    assert materialize_reference(resources).success
    server.configure(rate_limits={"daily": 2}, rate_window_seconds=2.0)

    result = materialize_dates([DAILY_ASSET], resources, FIRST, LAST)

    assert result.success
    assert server.stats()["rejected"]["rate_limited"] >= 1
    assert run_summary(result, "daily")["retries"].value >= 1
    server.configure(rate_limits={})
    for day in OPEN_DAYS:
        assert table_rows(warehouse_url, DAILY, day) == _expected_daily(server, day)


def test_a_tight_budget_keeps_under_the_server_limit(server, warehouse_url):
    resources = make_resources(
        server, warehouse_url, calls_per_minute=2, rate_window_seconds=2.0, rate_limit_cooldown_seconds=30
    )
    assert materialize_reference(resources).success
    server.configure(rate_limits={"daily": 2}, rate_window_seconds=2.0)

    result = materialize_dates([DAILY_ASSET], resources, FIRST, LAST)

    assert result.success
    assert server.stats()["rejected"].get("rate_limited", 0) == 0
    assert run_summary(result, "daily")["budget_wait_seconds"].value > 2


def test_closed_days_make_no_call_and_write_nothing(server, warehouse_url):
    resources = make_resources(server, warehouse_url)
    assert materialize_reference(resources).success
    # 2024-05-01..03 are synthetic Labour Day holidays: weekdays, closed in trade_cal.
    result = materialize_dates([DAILY_ASSET], resources, "2024-04-29", "2024-05-06")

    assert result.success
    assert server.stats()["calls"]["daily"] == 3  # 04-29, 04-30 and 05-06 only
    assert table_rows(warehouse_url, DAILY, date(2024, 5, 2)) == []
    assert run_summary(result, "daily")["dates_closed"].value == 3

    # Partitions are weekdays whatever the calendar says: the holidays are partitions that cost nothing.
    keys = build_trading_days("2024-04-25").get_partition_keys_in_range(
        dg.PartitionKeyRange("2024-04-26", "2024-05-06")
    )
    assert keys == ["2024-04-26", "2024-04-29", "2024-04-30", "2024-05-01", "2024-05-02", "2024-05-03", "2024-05-06"]


def test_empty_answer_before_publication_fails_the_date_and_writes_nothing(server, warehouse_url):
    resources = make_resources(server, warehouse_url)
    assert materialize_reference(resources).success
    server.configure(now="2024-07-05T15:00:00+08:00")  # bars appear at 16:00, factors at 09:30

    result = materialize_dates(trade_date_assets, resources, LAST, LAST, raise_on_error=False)

    assert not result.success
    message = failure_message(result)
    assert "no rows for open trading day 2024-07-05" in message
    assert table_rows(warehouse_url, DAILY, OPEN_DAYS[-1]) == []
    assert len(table_rows(warehouse_url, ADJ_FACTOR, OPEN_DAYS[-1])) > 0

    server.configure(now="2024-07-05T18:00:00+08:00")
    assert materialize_dates(trade_date_assets, resources, LAST, LAST).success
    assert table_rows(warehouse_url, DAILY, OPEN_DAYS[-1]) == _expected_daily(server, OPEN_DAYS[-1])


def test_a_run_failing_midway_checks_the_dates_it_committed(server, warehouse_url):
    resources = make_resources(server, warehouse_url)
    assert materialize_reference(resources).success
    server.configure(now="2024-07-05T15:00:00+08:00")  # the last date's bars are not published yet

    result = materialize_dates([DAILY_ASSET], resources, FIRST, LAST, raise_on_error=False)

    assert not result.success
    verdicts = {evaluation.check_name: evaluation for evaluation in result.get_asset_check_evaluations()}
    # The checks ran on the four committed dates instead of reading "execution failed"; the fields check,
    # which needs the whole run's answers, did not run.
    assert set(verdicts) == {"unique_keys", "rows_vs_listed", "ohlc_sanity"}
    assert all(evaluation.passed for evaluation in verdicts.values())
    assert verdicts["unique_keys"].metadata["dates_checked"].value == len(OPEN_DAYS) - 1


def test_bad_token_fails_at_once_and_writes_nothing(server, warehouse_url):
    resources = make_resources(server, warehouse_url, token="not-a-valid-token")

    result = materialize_reference(resources, raise_on_error=False)

    assert not result.success
    assert "您的token不对，请确认。" in failure_message(result)
    assert server.stats()["rejected"]["bad_token"] == 2  # one call per asset: no retries
    engine = sa.create_engine(warehouse_url)
    with engine.connect() as conn:
        for dataset in (TRADE_CAL, STOCK_BASIC):
            assert conn.execute(sa.select(sa.func.count()).select_from(TABLES[dataset.api_name])).scalar() == 0
    engine.dispose()
    assert "not-a-valid-token" not in failure_message(result)


def test_partial_answer_is_flagged_by_the_coverage_check(server, warehouse_url):
    resources = make_resources(server, warehouse_url)
    assert materialize_reference(resources).success
    assert materialize_dates([DAILY_ASSET], resources, FIRST, FIRST).success
    # Rows vanish for half the market, as in a truncated answer that did not say has_more.
    store = Warehouse(warehouse_url)
    table = TABLES["daily"]
    with store.engine.begin() as conn:
        conn.execute(table.delete().where(table.c.ts_code > "300000.SZ", table.c.trade_date == OPEN_DAYS[0]))

    verdicts = {result.check_name: result for result in checks.evaluate(store, DAILY, [OPEN_DAYS[0]])}
    store.dispose()

    assert verdicts["rows_vs_listed"].passed is False
    assert verdicts["rows_vs_listed"].metadata["short_dates"].value.startswith("2024-07-01: ")
    assert verdicts["unique_keys"].passed is True


def test_every_dataset_of_a_run_fetches_at_once_whatever_the_core_count():
    from stock_pipeline.datasets import STATEMENT_DATASETS
    from stock_pipeline.definitions import defs, io_bound_executor

    # Measured by benchmarks.rate_limited_backfill: the default (one step per core) queued a dataset.
    assert io_bound_executor.apply_config_mapping({}).value["config"]["max_concurrent"] >= max(
        len(TRADE_DATE_DATASETS), len(STATEMENT_DATASETS)
    )
    for job in ("market_data_job", "financial_statements_job", "daily_sync_job"):
        assert defs.resolve_job_def(job).executor_def is io_bound_executor
