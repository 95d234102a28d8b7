"""Benchmark: a backfill under a per-API rate limit, against the ideal of every API spending its budget at once.

    python -m benchmarks.rate_limited_backfill [--dates 150] [--limit 60] [--stocks 300]

The bundled SYNTHETIC server limits each API to `--limit` calls per minute (a sliding minute that counts
rejected calls, as Tushare's does) and the project gets the same budget (`STOCK_PIPELINE_CALLS_PER_MINUTE`).
One run of the real `dagster asset materialize` CLI backfills `--dates` open trading dates of every
trading-date dataset. Ideal: each API's calls at the limit, all APIs at once, i.e. (ceil(calls / limit) - 1)
minutes for the busiest API. Prints wall time, ideal, their difference, calls per API and rejections.
"""

import argparse
import math
import tempfile
import time
from pathlib import Path

from stock_pipeline.datasets import TRADE_DATE_DATASETS
from stock_pipeline.warehouse import Warehouse
from stock_pipeline_tests.cli import dagster_home, materialize, project_env
from tushare_double.app import ServerConfig
from tushare_double.launcher import ServerProcess

TOKEN = "0123456789abcdef0123456789abcdef0123456789abcdef01234567"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dates", type=int, default=150)
    parser.add_argument("--limit", type=int, default=60, help="calls per minute per API, server and project")
    parser.add_argument("--stocks", type=int, default=300)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench_rate_limited_"))
    config = ServerConfig(
        tokens={TOKEN: 5000}, n_stocks=args.stocks, now="2025-12-31T18:00:00+08:00", rate_limit_default=args.limit
    )
    with ServerProcess(config) as server:
        db_url = f"sqlite:///{workdir / 'warehouse.db'}"
        env = project_env(
            dagster_home(workdir),
            server.url,
            server.token,
            db_url,
            STOCK_PIPELINE_START_DATE="2025-01-02",
            STOCK_PIPELINE_CALLS_PER_MINUTE=str(args.limit),
        )
        materialize(env, "--select", "trade_cal,stock_basic")
        warehouse = Warehouse(db_url)
        days = sorted(day.isoformat() for day, is_open in warehouse.calendar().items() if is_open)[: args.dates]
        warehouse.dispose()
        before = server.stats()
        started, started_epoch = time.perf_counter(), time.time()
        selection = ",".join(dataset.api_name for dataset in TRADE_DATE_DATASETS)
        materialize(env, "--select", selection, "--partition-range", f"{days[0]}...{days[-1]}", timeout=3600)
        wall = time.perf_counter() - started
        after = server.stats()

    calls = {
        dataset.api_name: after["calls"].get(dataset.api_name, 0) - before["calls"].get(dataset.api_name, 0)
        for dataset in TRADE_DATE_DATASETS
    }
    log = after["calls_log"][len(before["calls_log"]) :]
    rejected = after["rejected"].get("rate_limited", 0) - before["rejected"].get("rate_limited", 0)
    ideal = max((math.ceil(count / args.limit) - 1) * 60 for count in calls.values())
    datasets = len(TRADE_DATE_DATASETS)
    print(f"{len(days)} dates x {datasets} datasets, {args.limit} calls/min per API, {args.stocks} stocks")
    print(f"| {'wall s':>7} | {'ideal s':>7} | {'over ideal s':>12} | {'rejections':>10} | calls per API")
    print(f"| {wall:7.1f} | {ideal:7.1f} | {wall - ideal:12.1f} | {rejected:10d} | {calls}")
    # Where the time over the ideal goes: until each API's first call (start-up), each minute's burst of
    # calls (the budget paces later minutes by the first one's spacing), and after the last call.
    print("\nper API, seconds from launch: first call | first `limit` calls take | last call | end")
    for dataset in TRADE_DATE_DATASETS:
        stamps = sorted(stamp - started_epoch for stamp, api, outcome in log if api == dataset.api_name)
        if stamps:
            burst = stamps[min(args.limit, len(stamps)) - 1] - stamps[0]
            print(f"{dataset.api_name:<12} {stamps[0]:6.1f} | {burst:6.1f} | {stamps[-1]:6.1f} | {wall:6.1f}")


if __name__ == "__main__":
    main()
