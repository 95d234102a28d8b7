"""The call budget: shared across processes through the warehouse, on the database's clock, per points tier,
and stopped for the day by a spent quota."""

import multiprocessing
import time

import sqlalchemy as sa

from stock_pipeline import settings
from stock_pipeline.defs.market.assets import trade_date_assets
from stock_pipeline.resources import TushareResource
from stock_pipeline.tushare.client import TushareClient
from stock_pipeline.tushare.errors import TushareHourlyLimitError, TushareQuotaError, TushareRateLimitError, classify
from stock_pipeline.tushare.rate_limit import CallBudget, call_log, calls_per_minute_for_points
from stock_pipeline_tests.conftest import failure_message, make_resources, materialize_dates, materialize_reference

DAILY_ASSET = next(asset for asset in trade_date_assets if asset.key.path == ["daily"])

LIMIT, WINDOW, CALLS_PER_PROCESS = 3, 1.0, 5


def _spend(url: str, queue) -> None:
    budget = CallBudget(url, LIMIT, window_seconds=WINDOW, safety_seconds=0.2)
    for _ in range(CALLS_PER_PROCESS):
        budget.acquire("daily")
        queue.put(time.time())
    budget.close()


def test_two_processes_share_one_budget(warehouse_url):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_spend, args=(warehouse_url, queue)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    stamps = sorted(queue.get(timeout=5) for _ in range(2 * CALLS_PER_PROCESS))

    # Any window as long as the server's holds at most LIMIT calls.
    busiest = max(sum(1 for other in stamps if start <= other < start + WINDOW) for start in stamps)
    assert busiest <= LIMIT
    # ...and the budget is not needlessly slow: 10 calls at 3 per window take about 3 windows.
    assert stamps[-1] - stamps[0] < 5 * (WINDOW + 0.2)


def test_a_zero_budget_is_unlimited(tmp_path):
    budget = CallBudget(f"sqlite:///{tmp_path / 'budget.db'}", 0)
    assert sum(budget.acquire("daily") for _ in range(100)) == 0


def test_the_budget_lives_in_the_warehouse_the_resource_names_and_runs_on_its_clock(server, warehouse_url, monkeypatch):
    # No budget URL and no STOCK_PIPELINE_DB_URL: the warehouse resource's URL alone decides.
    resources = make_resources(server, warehouse_url, calls_per_minute=100)
    assert "budget_db_url" not in resources["tushare"].model_dump(exclude_none=True)
    # A host clock an hour off must not move the window: the budget reads the database's clock.
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 3600)
    assert materialize_reference(resources).success

    engine = sa.create_engine(warehouse_url)
    with engine.connect() as conn:
        stamps = conn.execute(sa.select(call_log.c.api_name, call_log.c.called_at)).all()
    engine.dispose()
    assert {api for api, _ in stamps} == {"trade_cal", "stock_basic"}
    assert all(abs(stamp - real_time()) < 120 for _, stamp in stamps)
    assert not (settings.data_dir() / "warehouse.db").exists()  # nothing fell back to the default database


def test_a_spent_daily_quota_stops_the_api_for_the_day_with_one_failure(server, warehouse_url):
    resources = make_resources(server, warehouse_url)
    assert materialize_reference(resources).success
    server.configure(daily_quotas={"daily": 2})

    first = materialize_dates([DAILY_ASSET], resources, "2024-07-01", "2024-07-05", raise_on_error=False)
    second = materialize_dates([DAILY_ASSET], resources, "2024-07-08", "2024-07-08", raise_on_error=False)

    assert not first.success and not second.success
    assert "每天最多访问该接口2次" in failure_message(first)
    assert len(first.get_step_failure_events()) == 1  # one failure, no step retries
    assert "no call made" in failure_message(second) and "Asia/Shanghai" in failure_message(second)
    stats = server.stats()
    assert (stats["calls"]["daily"], stats["rejected"]["over_quota"]) == (2, 1)  # the refusal was not retried


def test_quota_and_limit_answers_are_told_apart():
    assert type(classify(40203, "抱歉，您每天最多访问该接口2次，权限的具体详情访问：…", "daily")) is TushareQuotaError
    assert type(classify(40203, "抱歉，您访问接口(daily)频率超限(5次/天)，…", "daily")) is TushareQuotaError
    assert isinstance(classify(40203, "抱歉，您每小时最多访问该接口100次", "daily"), TushareHourlyLimitError)
    assert isinstance(classify(40203, "抱歉，您访问接口(daily)频率超限(100次/小时)", "daily"), TushareHourlyLimitError)
    assert type(classify(40203, "抱歉，您每分钟最多访问该接口200次，…", "daily")) is TushareRateLimitError
    assert type(classify(40203, "抱歉，您访问接口(daily)频率超限(50次/分钟)，…", "daily")) is TushareRateLimitError


def test_the_default_budget_follows_the_points_tier():
    assert [calls_per_minute_for_points(points) for points in (0, 120, 2000, 4999, 5000, 15000)] == [
        50,
        50,
        200,
        200,
        500,
        1000,
    ]
    assert TushareResource(token="t", points=5000).budget_per_minute() == 500
    assert TushareResource(token="t", points=5000, calls_per_minute=0).budget_per_minute() == 0


def test_a_call_that_reaches_the_server_late_is_timed_from_its_answer(server, tmp_path):
    # The server counts a call when it handles it, which can be long after the call left (a loaded host, a
    # slow proxy): here the first call is held 1.5 s before the server counts it, longer than any fixed margin.
    server.configure(
        rate_limits={"daily": LIMIT},
        rate_window_seconds=2.0,
        faults=[{"api": "daily", "kind": "slow", "times": 1}],
        slow_seconds=1.5,
    )
    budget = CallBudget(f"sqlite:///{tmp_path / 'budget.db'}", LIMIT, window_seconds=2.0)
    client = TushareClient(server.token, server.url, budget=budget, max_attempts=1)

    for day in ("20240701", "20240702", "20240703", "20240704", "20240705"):
        client.query("daily", {"trade_date": day})

    assert server.stats()["rejected"] == {}
    assert client.stats.calls["daily"] == 5
