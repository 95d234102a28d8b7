"""Benchmark: one full-history stock batch of the four statements, and an incremental day.

    python -m benchmarks.statements_batch [--stocks 4000] [--batch batch_00]

Against the bundled SYNTHETIC server (restatements and same-dated corrections on) with no rate limit,
prints: API calls of a full-history batch (the real `dagster asset materialize` CLI) against the minimum
possible (one call per stock, statement and report type plus the pages its rows need at the cap), calls
per stock per API, what a full-market backfill costs at 200 and 500 calls per minute per API, its wall
time against the floor (the same calls and writes in a plain script), and the calls of an incremental
day driven by the disclosure sensor.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg
import requests

from stock_pipeline.datasets import DEFAULT_REPORT_TYPES, STATEMENT_DATASETS
from stock_pipeline.defs.financials.assets import disclosure_date, statement_assets
from stock_pipeline.defs.financials.partitions import batch_of
from stock_pipeline.defs.financials.sensors import statement_disclosure_sensor
from stock_pipeline.resources import SyncPolicyResource, TushareResource, WarehouseResource
from stock_pipeline.tushare.client import TushareFrame
from stock_pipeline.warehouse import Batch, Warehouse, frame_to_batch
from stock_pipeline_tests.cli import MATERIALIZE, REPO, dagster_home, project_env
from tushare_double.app import ServerConfig
from tushare_double.launcher import ServerProcess

START = "20000101"
# Stocks a real full-market statements backfill covers: listed (5,529 on 2026-06-18) plus delisted and
# suspended listings (a few hundred).
REAL_MARKET_STOCKS = 5900


def _requests(dataset, code: str) -> list[dict]:
    """One request per report type the pipeline fetches by default (fina_indicator has no types)."""
    base = {"ts_code": code, "start_date": START}
    if not dataset.has_report_type:
        return [base]
    return [{**base, "report_type": report_type} for report_type in DEFAULT_REPORT_TYPES]


def floor(api_url: str, token: str, db_url: str, stocks: list[str]) -> None:
    warehouse = Warehouse(db_url)
    warehouse.create_tables()
    session = requests.Session()
    for dataset in STATEMENT_DATASETS:
        for code in stocks:
            batches = []
            for request in _requests(dataset, code):
                batches.append(_fetch_all(session, api_url, token, dataset, request))
            rows = [row for batch in batches for row in batch.rows()]
            warehouse.insert_versions(dataset, Batch(tuple(zip(*rows)) if rows else ()), [code])
    warehouse.dispose()


def _fetch_all(session, api_url: str, token: str, dataset, request: dict) -> Batch:
    items, offset = [], 0
    while True:
        params = {**request, **({"offset": offset} if offset else {})}
        body = {"api_name": dataset.api_name, "token": token, "params": params, "fields": ",".join(dataset.fields)}
        data = session.post(f"{api_url}/{dataset.api_name}", json=body, timeout=60).json()["data"]
        items += data["items"]
        offset = len(items)
        if not data["has_more"]:
            return frame_to_batch(dataset, TushareFrame(dataset.api_name, tuple(data["fields"]), items))


def _cli(env: dict[str, str], *args: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [*MATERIALIZE, *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    return time.perf_counter() - started


def _minimum_calls(server: ServerProcess, stocks: list[str]) -> int:
    total = 0
    for dataset in STATEMENT_DATASETS:
        for code in stocks:
            for params in _requests(dataset, code):
                rows = 0
                while True:  # count the stock's rows page by page, as any client must
                    body = {
                        "api_name": dataset.api_name,
                        "token": server.token,
                        "params": {**params, "offset": rows},
                        "fields": "ts_code",
                    }
                    data = requests.post(f"{server.url}/{dataset.api_name}", json=body, timeout=60).json()["data"]
                    rows += len(data["items"])
                    if not data["has_more"]:
                        break
                total += max(1, -(-rows // dataset.row_cap))
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stocks", type=int, default=4000)
    parser.add_argument("--batch", default="batch_00")
    parser.add_argument("--floor", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor:
        floor(**json.loads(args.floor))
        return
    workdir = Path(tempfile.mkdtemp())
    config = ServerConfig(
        n_stocks=args.stocks,
        now="2024-07-12T18:00:00+08:00",
        rate_limit_default=0,
        restatements=True,
        same_date_corrections=True,
    )
    with ServerProcess(config) as server:
        db_url = f"sqlite:///{workdir / 'warehouse.db'}"
        home = dagster_home(workdir)
        env = project_env(home, server.url, server.token, db_url)
        _cli(env, "--select", "stock_basic")
        store = Warehouse(db_url)
        stocks = [code for code in store.stock_codes() if batch_of(code) == args.batch]
        store.dispose()

        before = server.stats()["calls"]
        pipeline_seconds = _cli(
            env, "--select", "income,balancesheet,cashflow,fina_indicator", "--partition", args.batch
        )
        after = server.stats()["calls"]
        calls_by_api = {d.api_name: after[d.api_name] - before.get(d.api_name, 0) for d in STATEMENT_DATASETS}
        pipeline_calls = sum(calls_by_api.values())
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.statements_batch",
                "--floor",
                json.dumps(
                    {
                        "api_url": server.url,
                        "token": server.token,
                        "db_url": f"sqlite:///{workdir / 'floor.db'}",
                        "stocks": stocks,
                    }
                ),
            ],
            check=True,
            cwd=REPO,
        )
        floor_seconds = time.perf_counter() - started
        minimum = _minimum_calls(server, stocks)

        # An incremental day: the sensor requests only the stocks disclosed since its cursor.
        resources = {
            "tushare": TushareResource(
                token=server.token, api_url=server.url, calls_per_minute=0, budget_db_url=db_url
            ),
            "warehouse": WarehouseResource(url=db_url),
            "sync_policy": SyncPolicyResource(),
        }
        periods = {"ops": {"disclosure_date": {"config": {"periods": ["20240331", "20240630"]}}}}
        os.environ["DAGSTER_HOME"] = str(home)
        with dg.instance_for_test() as instance:
            dg.materialize([disclosure_date], resources=resources, run_config=periods, instance=instance)
            cursor = statement_disclosure_sensor(dg.build_sensor_context(instance=instance, resources=resources)).cursor
            server.configure(now="2024-07-31T23:30:00+08:00")
            dg.materialize([disclosure_date], resources=resources, run_config=periods, instance=instance)
            tick = statement_disclosure_sensor(
                dg.build_sensor_context(instance=instance, resources=resources, cursor=cursor)
            )
            disclosed = sum(len(r.run_config["ops"]["income"]["config"]["stocks"]) for r in tick.run_requests)
            before = server.stats()["calls"]
            for request in tick.run_requests:
                dg.materialize(
                    statement_assets,
                    resources=resources,
                    partition_key=request.partition_key,
                    run_config=request.run_config,
                    instance=instance,
                )
            after = server.stats()["calls"]
        incremental_calls = sum(after[d.api_name] - before.get(d.api_name, 0) for d in STATEMENT_DATASETS)

    print(
        f"\nFull-history batch {args.batch}: {len(stocks)} stocks of {args.stocks} SYNTHETIC, 4 statements, "
        f"since {START}, SQLite\n"
    )
    print(f"{'API calls':>10} {'minimum':>8} {'pipeline s':>11} {'floor s':>8} {'ratio':>6}")
    print(
        f"{pipeline_calls:>10} {minimum:>8} {pipeline_seconds:>11.1f} {floor_seconds:>8.1f} "
        f"{pipeline_seconds / floor_seconds:>6.2f}"
    )
    per_stock = {api: calls / len(stocks) for api, calls in calls_by_api.items()}
    print("\nCalls per stock (report types " + ", ".join(DEFAULT_REPORT_TYPES) + "; before: 1 call per statement):")
    print("  " + ", ".join(f"{api} {value:.2f}" for api, value in per_stock.items()))
    print(f"  total {sum(per_stock.values()):.2f} per stock (before: 4 plus pages)")
    busiest = max(per_stock.values()) * REAL_MARKET_STOCKS
    print(
        f"\nFull-market statements backfill ({REAL_MARKET_STOCKS} stocks): "
        f"{sum(per_stock.values()) * REAL_MARKET_STOCKS:,.0f} calls; the four APIs spend their own budgets at once, "
        f"so the busiest API sets the time: {busiest / 200:.0f} min at 200 calls/min, {busiest / 500:.0f} min at 500"
    )
    print(
        f"\nIncremental day: K = {disclosed} stocks disclosed, {len(tick.run_requests)} batch runs, "
        f"{incremental_calls} statement API calls (7 per stock without pages = {7 * disclosed})"
    )
    shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
