"""Benchmark: SIGKILL a backfill at 90 %, recover, run the same command again; count what the rerun fetches.

    python -m benchmarks.resume_after_kill [--dates 120] [--stocks 1000] [--kill-at 0.9]

Against the bundled SYNTHETIC server (each call slowed a little so that the kill lands mid-run), one run
of the real `dagster asset materialize` CLI backfills `--dates` trading dates of every trading-date
dataset on SQLite. When `--kill-at` of the dates of every dataset are committed, the CLI's process group
is SIGKILLed; `python -m stock_pipeline.recover --all-in-progress` marks the run failed; the same command
runs again. Prints, per API: dates committed at the kill, dates Dagster showed materialized, dates left,
and calls made by the rerun (the goal: calls = dates left).
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from stock_pipeline.datasets import TRADE_DATE_DATASETS
from stock_pipeline.warehouse import Warehouse
from stock_pipeline_tests.cli import MATERIALIZE, REPO, dagster_home, materialize, project_env
from tushare_double.app import ServerConfig
from tushare_double.launcher import ServerProcess

TOKEN = "0123456789abcdef0123456789abcdef0123456789abcdef01234567"
MARKET = [dataset.api_name for dataset in TRADE_DATE_DATASETS]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dates", type=int, default=120)
    parser.add_argument("--stocks", type=int, default=1000)
    parser.add_argument("--kill-at", type=float, default=0.9)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench_resume_"))
    config = ServerConfig(
        tokens={TOKEN: 5000}, n_stocks=args.stocks, now="2025-12-31T18:00:00+08:00", rate_limit_default=0
    )
    with ServerProcess(config) as server:
        db_url = f"sqlite:///{workdir / 'warehouse.db'}"
        home = dagster_home(workdir)
        env = project_env(home, server.url, server.token, db_url, STOCK_PIPELINE_START_DATE="2025-01-02")
        materialize(env, "--select", "trade_cal,stock_basic")
        warehouse = Warehouse(db_url)
        days = sorted(day.isoformat() for day, is_open in warehouse.calendar().items() if is_open)[: args.dates]
        warehouse.dispose()
        command = ["--select", ",".join(MARKET), "--partition-range", f"{days[0]}...{days[-1]}"]
        server.configure(random_faults={"rate": 1.0, "kinds": ["slow"], "apis": MARKET}, slow_seconds=0.1)
        engine = sa.create_engine(db_url)

        def committed() -> dict[str, set[str]]:
            with engine.connect() as conn:
                rows = conn.execute(sa.text("SELECT dataset, partition_key FROM partition_sync_log")).all()
            return {api: {key for dataset, key in rows if dataset == api} for api in MARKET}

        process = subprocess.Popen(
            [*MATERIALIZE, *command],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        target = int(len(days) * args.kill_at)
        while min(len(keys) for keys in committed().values()) < target:
            if process.poll() is not None:
                raise SystemExit("the backfill ended before the kill point: use more --dates or --stocks")
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        at_kill = committed()
        os.environ["DAGSTER_HOME"] = str(home)
        with dg.DagsterInstance.get() as instance:
            shown = {api: set(instance.get_materialized_partitions(dg.AssetKey(api))) for api in MARKET}
        subprocess.run(
            [sys.executable, "-m", "stock_pipeline.recover", "--all-in-progress"], cwd=REPO, env=env, check=True
        )
        server.configure(random_faults={})
        before = server.stats()["calls"]
        started = time.perf_counter()
        materialize(env, *command, timeout=3600)
        rerun_seconds = time.perf_counter() - started
        after = server.stats()["calls"]
        engine.dispose()

    print(f"{len(days)} dates, SIGKILL at {args.kill_at:.0%} committed, {args.stocks} stocks")
    print(f"rerun: {rerun_seconds:.1f} s")
    header = ("API", "committed at kill", "shown in Dagster", "dates left", "rerun calls")
    print("| " + " | ".join(f"{name:>17}" for name in header) + " |")
    for api in MARKET:
        left = len(days) - len(at_kill[api])
        calls = after.get(api, 0) - before.get(api, 0)
        row = (api, len(at_kill[api]), len(shown[api]), left, calls)
        print("| " + " | ".join(f"{value:>17}" for value in row) + " |")


if __name__ == "__main__":
    main()
