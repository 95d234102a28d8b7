"""Benchmark: API calls per research dataset for a year's backfill, against the minimum.

    python -m benchmarks.research_year [--stocks 5000] [--year 2024]

Against the bundled SYNTHETIC server (its caps), through the pipeline's own sync functions on SQLite:
the trading-date datasets (`suspend_d`, `stk_limit`) for every weekday of the year, the reference
snapshots, `dividend` for every stock, and the default indexes' bars and weights. The minimum is what any
client needs at the server's caps: one call per request unit (a date, a stock, an index, a snapshot
call) plus the pages its rows fill.
"""

import argparse
import tempfile
from datetime import date, timedelta
from pathlib import Path

from stock_pipeline import settings, sync, sync_reference
from stock_pipeline.datasets import DIVIDEND, INDEX_DATASETS, SNAPSHOT_DATASETS, STK_LIMIT, STOCK_BASIC, SUSPEND_D
from stock_pipeline.tushare.client import TushareClient
from stock_pipeline.warehouse import Warehouse
from tushare_double.app import ServerConfig
from tushare_double.launcher import ServerProcess
from tushare_double.model import API_MODELS

TOKEN = "synthetic-benchmark-token"


def _minimum(rows: dict[str, int], cap: int) -> int:
    return sum(max(1, -(-count // cap)) for count in rows.values())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stocks", type=int, default=5000)
    parser.add_argument("--year", type=int, default=2024)
    args = parser.parse_args()
    first, last = date(args.year, 1, 1), date(args.year, 12, 31)
    config = ServerConfig(
        tokens={TOKEN: 5000}, n_stocks=args.stocks, now=f"{args.year + 1}-01-10T20:00:00+08:00", rate_limit_default=0
    )
    workdir = Path(tempfile.mkdtemp())
    store = Warehouse(f"sqlite:///{workdir / 'warehouse.db'}")
    store.create_tables()
    results = []
    with ServerProcess(config) as server:
        client = TushareClient(TOKEN, server.url)
        sync.sync_trade_cal(client, store, date(1990, 12, 19), last)
        sync.sync_stock_basic(client, store)
        weekdays = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        weekdays = [day for day in weekdays if day.weekday() < 5]
        for dataset in (SUSPEND_D, STK_LIMIT):
            before = client.stats.calls[dataset.api_name]
            report = sync.sync_trade_dates(client, store, dataset, weekdays)
            rows = {str(day): count for day, count in report.rows_by_date.items()}
            results.append((dataset.api_name, "per trading date", client.stats.calls[dataset.api_name] - before, rows))
        for dataset in SNAPSHOT_DATASETS:
            report = sync_reference.sync_snapshot(client, store, dataset)
            results.append((dataset.api_name, "snapshot", client.stats.calls[dataset.api_name], report.rows_by_part))
        stocks = store.stock_codes()
        report = sync_reference.sync_per_stock(client, store, DIVIDEND, stocks)
        results.append(
            (DIVIDEND.api_name, "per stock (whole history)", client.stats.calls["dividend"], report.rows_by_part)
        )
        for dataset in INDEX_DATASETS:
            rows = {}
            for code in settings.DEFAULT_INDEXES:
                rows |= sync_reference.sync_code_history(client, store, dataset, code, first, last).rows_by_part
            results.append((dataset.api_name, "per index", client.stats.calls[dataset.api_name], rows))
    store.dispose()

    print(f"\nA year ({args.year}) of research datasets, {len(stocks)} SYNTHETIC stocks ({STOCK_BASIC.api_name})\n")
    print(f"{'dataset':<18} {'partitioned':<26} {'rows':>9} {'calls':>7} {'minimum':>8}")
    for name, how, calls, rows in results:
        minimum = _minimum(rows, API_MODELS[name].row_cap)
        print(f"{name:<18} {how:<26} {sum(rows.values()):>9,} {calls:>7,} {minimum:>8,}")


if __name__ == "__main__":
    main()
