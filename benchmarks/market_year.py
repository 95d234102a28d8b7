"""Benchmark: one year of trading dates of daily, adj_factor and daily_basic, in one Dagster run,
against the floor: the same HTTP calls and the same bulk writes in a plain script.

    python -m benchmarks.market_year [--stocks 5000] [--year 2025] [--backends sqlite,postgres]

Runs against the bundled SYNTHETIC server with no rate limit. Prints a table: wall time of the
pipeline (the real `dagster asset materialize` CLI, SQLite Dagster storage) and of the floor, their
ratio, API calls per date per endpoint, and peak memory (largest process RSS).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import requests
import sqlalchemy as sa

from stock_pipeline.datasets import TRADE_DATE_DATASETS
from stock_pipeline.warehouse import Batch, Warehouse
from stock_pipeline_tests.cli import MATERIALIZE, REPO, dagster_home, project_env
from tushare_double.app import ServerConfig
from tushare_double.launcher import ServerProcess

# The datasets of the year's run (and of the floor): the three every backtest needs.
YEAR_DATASETS = [
    dataset for dataset in TRADE_DATE_DATASETS if dataset.api_name in ("daily", "adj_factor", "daily_basic")
]
PG_ADMIN = os.environ.get("STOCK_PIPELINE_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


def floor(api_url: str, token: str, db_url: str, days: list[str]) -> None:
    """The same calls and bulk writes with nothing else: no retries, budget, checks or Dagster."""
    warehouse = Warehouse(db_url)
    warehouse.create_tables()
    session = requests.Session()
    for dataset in YEAR_DATASETS:
        for day in days:
            body = {
                "api_name": dataset.api_name,
                "token": token,
                "params": {"trade_date": day.replace("-", "")},
                "fields": ",".join(dataset.fields),
            }
            items = session.post(f"{api_url}/{dataset.api_name}", json=body, timeout=60).json()["data"]["items"]
            warehouse.replace_date(dataset, date.fromisoformat(day), Batch(tuple(zip(*items))))
    warehouse.dispose()


def _child_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def _timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"{' '.join(command[:4])} failed:\n{done.stderr[-3000:]}")
    return elapsed


def _fresh_db(backend: str, workdir: Path) -> tuple[str, callable]:
    if backend == "sqlite":
        path = workdir / f"warehouse-{uuid.uuid4().hex[:6]}.db"
        return f"sqlite:///{path}", lambda: None
    name = f"sp_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")

    def drop():
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()

    return sa.engine.make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False), drop


def run(backend: str, server: ServerProcess, year: int, workdir: Path) -> dict[str, object]:
    db_url, drop = _fresh_db(backend, workdir)
    home = dagster_home(Path(tempfile.mkdtemp(dir=workdir)))
    env = project_env(home, server.url, server.token, db_url, STOCK_PIPELINE_START_DATE=f"{year - 1}-01-02")
    try:
        _timed([*MATERIALIZE, "--select", "trade_cal,stock_basic"], env)
        warehouse = Warehouse(db_url)
        days = sorted(d.isoformat() for d, is_open in warehouse.calendar().items() if is_open and d.year == year)
        warehouse.dispose()
        calls_before = server.stats()["calls"]
        pipeline = _timed(
            [
                *MATERIALIZE,
                "--select",
                "daily,adj_factor,daily_basic",
                "--partition-range",
                f"{days[0]}...{days[-1]}",
            ],
            env,
        )
        calls_after = server.stats()["calls"]
        pipeline_peak = _child_peak_mb()
        floor_db, drop_floor = _fresh_db(backend, workdir)
        try:
            floor_seconds = _timed(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.market_year",
                    "--floor",
                    json.dumps({"api_url": server.url, "token": server.token, "db_url": floor_db, "days": days}),
                ],
                env,
            )
        finally:
            drop_floor()
        rows = {}
        engine = sa.create_engine(db_url)
        with engine.connect() as conn:
            for dataset in YEAR_DATASETS:
                rows[dataset.api_name] = conn.exec_driver_sql(f"SELECT count(*) FROM {dataset.api_name}").scalar()
        engine.dispose()
    finally:
        drop()
    return {
        "backend": backend,
        "dates": len(days),
        "rows": sum(rows.values()),
        "pipeline_s": pipeline,
        "floor_s": floor_seconds,
        "calls_per_date": {api: (calls_after.get(api, 0) - calls_before.get(api, 0)) / len(days) for api in rows},
        "peak_mb": pipeline_peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stocks", type=int, default=5000)
    parser.add_argument("--year", type=int, default=2025)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--floor", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor:
        floor(**json.loads(args.floor))
        return
    config = ServerConfig(n_stocks=args.stocks, now=f"{args.year + 1}-01-10T18:00:00+08:00", rate_limit_default=0)
    with tempfile.TemporaryDirectory() as workdir, ServerProcess(config) as server:
        results = [run(backend, server, args.year, Path(workdir)) for backend in args.backends.split(",")]
    print(f"\nOne year ({args.year}) of daily + adj_factor + daily_basic, {args.stocks} SYNTHETIC stocks, one run\n")
    print(
        f"{'warehouse':<10} {'dates':>5} {'rows':>10} {'pipeline s':>10} {'floor s':>8} {'ratio':>6} "
        f"{'calls/date (daily, adj_factor, daily_basic)':>44} {'peak MB':>8}"
    )
    for r in results:
        calls = ", ".join(f"{value:.2f}" for value in r["calls_per_date"].values())
        print(
            f"{r['backend']:<10} {r['dates']:>5} {r['rows']:>10} {r['pipeline_s']:>10.1f} {r['floor_s']:>8.1f} "
            f"{r['pipeline_s'] / r['floor_s']:>6.2f} {calls:>44} {r['peak_mb']:>8.0f}"
        )


if __name__ == "__main__":
    main()
