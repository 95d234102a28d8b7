"""Benchmark: backfills through the real daemon on PostgreSQL storage.

    python -m benchmarks.daemon_backfill [--stocks 5000] [--year 2025] [--budget 50] [--server-limit 60]

1. A one-year backfill of daily, adj_factor and daily_basic launched over GraphQL: runs and wall time
   (launch to COMPLETED_SUCCESS), no rate limit.
2. Two overlapping backfills in flight at once, with a calls-per-minute budget below the server's
   limit: the most calls any endpoint received in a 60-second window, and the server's rejections.
Prints a table. Needs PostgreSQL at STOCK_PIPELINE_TEST_PG_URL (default 127.0.0.1:5432, user postgres).
"""

import argparse
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from stock_pipeline_tests.cli import REPO, dagster_home, materialize, project_env
from stock_pipeline_tests.deployment import MARKET_ASSETS, Deployment
from tushare_double.app import ServerConfig
from tushare_double.launcher import ServerProcess

PG_ADMIN = os.environ.get("STOCK_PIPELINE_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
DONE = {"COMPLETED", "COMPLETED_SUCCESS", "FAILED", "COMPLETED_FAILED", "CANCELED"}


def _databases(admin: sa.Engine, count: int) -> list[str]:
    names = [f"sp_bench_{uuid.uuid4().hex[:8]}" for _ in range(count)]
    with admin.connect() as conn:
        for name in names:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    return names


def _url(name: str) -> str:
    return sa.engine.make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)


def _busiest_minute(stamps: list[float]) -> int:
    stamps.sort()
    best, start = 0, 0
    for end, stamp in enumerate(stamps):
        while stamp - stamps[start] >= 60:
            start += 1
        best = max(best, end - start + 1)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stocks", type=int, default=4000)
    parser.add_argument("--year", type=int, default=2025)
    parser.add_argument("--budget", type=int, default=50)
    parser.add_argument("--server-limit", type=int, default=60)
    args = parser.parse_args()
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    names = _databases(admin, 2)
    workdir = Path(tempfile.mkdtemp())
    home = dagster_home(workdir, REPO / "deploy" / "postgres" / "dagster.yaml")
    config = ServerConfig(n_stocks=args.stocks, now=f"{args.year + 1}-01-10T18:00:00+08:00", rate_limit_default=0)
    try:
        with ServerProcess(config) as server:
            env = project_env(
                home,
                server.url,
                server.token,
                _url(names[1]),
                DAGSTER_PG_URL=_url(names[0]),
                STOCK_PIPELINE_START_DATE=f"{args.year - 1}-01-02",
                STOCK_PIPELINE_CALLS_PER_MINUTE="0",
            )
            materialize(env, "--select", "trade_cal,stock_basic")
            engine = sa.create_engine(_url(names[1]))
            with engine.connect() as conn:
                days = [
                    d.isoformat()
                    for d in conn.execute(
                        sa.text(
                            "SELECT cal_date FROM trade_cal WHERE exchange = 'SSE' AND is_open = 1 "
                            "AND cal_date BETWEEN :a AND :b ORDER BY cal_date"
                        ),
                        {"a": f"{args.year}-01-01", "b": f"{args.year}-12-31"},
                    ).scalars()
                ]
            engine.dispose()

            deployment = Deployment(env, workdir)
            try:
                started = time.monotonic()
                backfill = deployment.launch(days[0], days[-1])
                year = deployment.wait(backfill, DONE, timeout=3600)
                year_seconds = time.monotonic() - started
            finally:
                deployment.stop()

            env["STOCK_PIPELINE_CALLS_PER_MINUTE"] = str(args.budget)
            server.configure(rate_limit_default=args.server_limit)
            log_start = len(server.stats()["calls_log"])
            deployment = Deployment(env, workdir)
            try:
                pair = [deployment.launch(days[-60], days[-21]), deployment.launch(days[-40], days[-1])]
                states = [deployment.wait(backfill_id, DONE, timeout=3600) for backfill_id in pair]
            finally:
                deployment.stop()
            calls = server.stats()["calls_log"][log_start:]
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()
        shutil.rmtree(workdir, ignore_errors=True)

    print(
        f"\nOne-year backfill ({args.year}, {len(days)} trading dates, {args.stocks} SYNTHETIC stocks) "
        "through dagster-daemon, PostgreSQL storage\n"
    )
    print(f"{'status':<20} {'runs':>5} {'wall s':>8}")
    print(f"{year['status']:<20} {len(year['runs']):>5} {year_seconds:>8.1f}")
    print(
        f"\nTwo overlapping backfills (40 dates each), budget {args.budget}/min, "
        f"server limit {args.server_limit}/min: {[s['status'] for s in states]}\n"
    )
    print(f"{'endpoint':<12} {'calls':>6} {'busiest 60 s':>13} {'budget':>7} {'rejected':>9}")
    for api in MARKET_ASSETS:
        ok = [stamp for stamp, name, outcome in calls if name == api and outcome == "ok"]
        rejected = sum(1 for _, name, outcome in calls if name == api and outcome != "ok")
        print(f"{api:<12} {len(ok):>6} {_busiest_minute(ok):>13} {args.budget:>7} {rejected:>9}")


if __name__ == "__main__":
    main()
