"""Benchmark: how big the warehouse grows, per year of trading dates and for the full history.

    python -m benchmarks.warehouse_size [--stocks 5000] [--dates 40] [--backends sqlite,postgres]

Syncs `--dates` recent trading dates of every trading-date dataset from the bundled SYNTHETIC server
(plain calls and the warehouse's own bulk writes) into a fresh SQLite file and a fresh PostgreSQL
database, measures the bytes each holds, and extrapolates: bytes per stock-day times the stock-days of
one year (243 dates at today's listed count) and of each dataset's full history (the listed count of
every trading date since the dataset's history start, from the synced `stock_basic`). Statements are
not included (see benchmarks/statements_batch.py).
"""

import argparse
import tempfile
from datetime import date
from pathlib import Path

import requests
import sqlalchemy as sa

from stock_pipeline import sync
from stock_pipeline.datasets import TRADE_DATE_DATASETS
from stock_pipeline.tushare.client import TushareClient
from stock_pipeline.warehouse import Batch, Warehouse
from stock_pipeline_tests.databases import fresh_warehouse_url
from tushare_double.app import ServerConfig
from tushare_double.launcher import ServerProcess

NOW = "2025-12-31T18:00:00+08:00"
DATES_PER_YEAR = 243


def fill(api_url: str, token: str, warehouse: Warehouse, days: list[date]) -> int:
    """Every trading-date dataset for `days`; returns the stock-days of `daily`."""
    session = requests.Session()
    stock_days = 0
    for dataset in TRADE_DATE_DATASETS:
        for day in days:
            body = {
                "api_name": dataset.api_name,
                "token": token,
                "params": {"trade_date": day.strftime("%Y%m%d")},
                "fields": ",".join(dataset.fields),
            }
            items = session.post(f"{api_url}/{dataset.api_name}", json=body, timeout=60).json()["data"]["items"]
            warehouse.replace_date(dataset, day, Batch(tuple(zip(*items))))
            stock_days += len(items) if dataset.api_name == "daily" else 0
    return stock_days


def size_of(backend: str, url: str, path: Path | None) -> int:
    if backend == "sqlite":
        return path.stat().st_size
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        size = conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar()
    engine.dispose()
    return size


def measure(backend: str, server: ServerProcess, days: list[date], workdir: Path) -> dict[str, float]:
    with fresh_warehouse_url(backend, workdir, "sp_size") as url:
        path = Path(sa.engine.make_url(url).database) if backend == "sqlite" else None
        warehouse = Warehouse(url)
        warehouse.create_tables()
        client = TushareClient(server.token, server.url)
        sync.sync_trade_cal(client, warehouse, date(1990, 12, 19), date(2025, 12, 31))
        sync.sync_stock_basic(client, warehouse)
        empty = size_of(backend, url, path)
        stock_days = fill(server.url, server.token, warehouse, days)
        grown = size_of(backend, url, path) - empty
        calendar = sorted(day for day, is_open in warehouse.calendar().items() if is_open)
        history_start = min(dataset.history_start for dataset in TRADE_DATE_DATASETS if dataset.history_start)
        history_days = warehouse.listed_counts([day for day in calendar if day >= history_start])
        listed_now = warehouse.listed_counts([days[-1]])[days[-1]]
        warehouse.dispose()
    per_stock_day = grown / stock_days
    return {
        "bytes_per_stock_day": per_stock_day,
        "year_gb": per_stock_day * listed_now * DATES_PER_YEAR / 1e9,
        "history_gb": per_stock_day * sum(history_days.values()) / 1e9,
        "history_stock_days_m": sum(history_days.values()) / 1e6,
        "measured_mb": grown / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stocks", type=int, default=5000)
    parser.add_argument("--dates", type=int, default=40)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    config = ServerConfig(tokens={"size-token": 5000}, n_stocks=args.stocks, now=NOW, rate_limit_default=0)
    with ServerProcess(config) as server, tempfile.TemporaryDirectory() as workdir:
        probe = Warehouse(f"sqlite:///{workdir}/calendar.db")
        probe.create_tables()
        sync.sync_trade_cal(TushareClient(server.token, server.url), probe, date(2025, 1, 1), date(2025, 12, 31))
        days = sorted(day for day, is_open in probe.calendar().items() if is_open)[-args.dates :]
        probe.dispose()
        print(
            f"{args.dates} trading dates x {len(TRADE_DATE_DATASETS)} datasets "
            f"({', '.join(d.api_name for d in TRADE_DATE_DATASETS)}), {args.stocks} synthetic stocks"
        )
        print(f"{'backend':<10} {'measured MB':>12} {'B/stock-day':>12} {'GB/year':>8} {'GB full history':>16}")
        for backend in args.backends.split(","):
            row = measure(backend, server, days, Path(workdir))
            print(
                f"{backend:<10} {row['measured_mb']:>12.1f} {row['bytes_per_stock_day']:>12.0f} "
                f"{row['year_gb']:>8.2f} {row['history_gb']:>16.1f}"
                f"   (full history: {row['history_stock_days_m']:.1f} M stock-days)"
            )


if __name__ == "__main__":
    main()
