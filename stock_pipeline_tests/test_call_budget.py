"""The calls-per-minute budget holds across processes sharing one database."""

import multiprocessing

from stock_pipeline.tushare.rate_limit import CallBudget

LIMIT, WINDOW, CALLS_PER_PROCESS = 3, 1.0, 5


def _spend(url: str, queue) -> None:
    budget = CallBudget(url, LIMIT, window_seconds=WINDOW, safety_seconds=0.2)
    import time

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
