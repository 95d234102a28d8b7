"""Benchmark: qlib and Parquet export time and size for the demo's data, and the full market estimated.

    python -m benchmarks.export_size [--stocks 5000] [--days 20]

Syncs what `scripts/demo.sh` syncs — the calendar, the stock list and the last `--days` trading days of
daily, adj_factor, daily_basic, suspend_d and stk_limit — from the bundled SYNTHETIC server (5,000 stocks
by default, as the demo's) into SQLite with the plain sync functions, then times: a first qlib export of
all but the last day, the incremental export appending the last day, qlib exports written anew over all
and over half of the days, and the Parquet export. The full market (about 5,400 stocks over about 8,700
trading dates) is extrapolated from the measured bytes and seconds, with the arithmetic printed.
"""

import argparse
import tempfile
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from stock_pipeline import sync
from stock_pipeline.datasets import ADJ_FACTOR, DAILY, DAILY_BASIC, STK_LIMIT, SUSPEND_D
from stock_pipeline.export import export_parquet, export_qlib
from stock_pipeline.export.common import folder_size
from stock_pipeline.tushare.client import TushareClient
from stock_pipeline.warehouse import TABLES, Warehouse
from tushare_double.app import ServerConfig
from tushare_double.launcher import ServerProcess

TOKEN = "synthetic-benchmark-token"
NOW = "2024-07-12T18:00:00+08:00"
FULL_STOCKS, FULL_DATES = 5_400, 8_700
# stk_limit starts in 2007 (about 4,300 of the 8,700 dates); suspend_d is small.
FULL_SHARE = {"daily": 1.0, "adj_factor": 1.0, "daily_basic": 1.0, "stk_limit": 4_300 / FULL_DATES}


def _sync(store: Warehouse, server_url: str, days: int) -> list[date]:
    client = TushareClient(TOKEN, server_url)
    sync.sync_trade_cal(client, store, date(2023, 1, 1), date(2024, 12, 31))
    sync.sync_stock_basic(client, store)
    open_days = sorted(day for day, is_open in store.calendar().items() if is_open and day <= date(2024, 7, 12))
    chosen = open_days[-days:]
    for dataset in (DAILY, ADJ_FACTOR, DAILY_BASIC, SUSPEND_D, STK_LIMIT):
        sync.sync_trade_dates(client, store, dataset, chosen)
    return chosen


def _stock_days(url: str, start: date) -> int:
    table = TABLES[DAILY.api_name]
    store = Warehouse(url)
    with store.engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).where(table.c.trade_date >= start)).scalar_one()
    store.dispose()
    return count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stocks", type=int, default=5000)
    parser.add_argument("--days", type=int, default=20)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="export_size_"))
    url = f"sqlite:///{workdir / 'warehouse.db'}"
    store = Warehouse(url)
    store.create_tables()
    config = ServerConfig(tokens={TOKEN: 5000}, n_stocks=args.stocks, now=NOW, rate_limit_default=0)
    with ServerProcess(config) as server:
        days = _sync(store, server.url, args.days)
    stock_days = store.count_rows(DAILY)
    store.dispose()

    qlib_dir = workdir / "qlib"
    first = export_qlib(qlib_dir, url, end=days[-2])
    appended = export_qlib(qlib_dir, url)
    fresh = export_qlib(workdir / "qlib_fresh", url)
    half = export_qlib(workdir / "qlib_half", url, start=days[len(days) // 2])
    parquet = export_parquet(workdir / "parquet", url)

    print(
        f"Demo-sized data: {args.stocks} synthetic stocks, {len(days)} trading days {days[0]}..{days[-1]}, "
        f"{stock_days} daily rows (SQLite)\n"
    )
    print(f"{'export':<40} {'seconds':>8} {'MB':>8} {'files':>8}")
    rows = [
        (f"qlib, first {len(days) - 1} days", first.elapsed_seconds, first.size_bytes, sum(first.files.values())),
        (
            "qlib, incremental (+1 day appended)",
            appended.elapsed_seconds,
            appended.size_bytes,
            appended.files["appended"],
        ),
        (
            f"qlib, all {len(days)} days written anew",
            fresh.elapsed_seconds,
            fresh.size_bytes,
            folder_size(workdir / "qlib_fresh")[1],
        ),
        ("parquet, every table", parquet.elapsed_seconds, parquet.size_bytes, parquet.files),
    ]
    for name, seconds, size, files in rows:
        print(f"{name:<40} {seconds:>8.1f} {size / 1e6:>8.2f} {files:>8}")
    print(
        f"\nqlib incremental: {appended.files['appended']} files appended, {appended.files['unchanged']} unchanged, "
        f"{appended.files['rewritten']} rewritten; it re-reads and compares the whole window, so it costs "
        "about as much as a fresh export"
    )

    full_stock_days = FULL_STOCKS * FULL_DATES
    qlib_bytes = 9 * 4 * full_stock_days
    # Two fresh exports of the same stocks over different windows: seconds = per-stock cost (files, queries)
    # + per-stock-day cost.
    half_stock_days = _stock_days(url, days[len(days) // 2])
    per_stock_day = (fresh.elapsed_seconds - half.elapsed_seconds) / (stock_days - half_stock_days)
    per_stock = max(fresh.elapsed_seconds - per_stock_day * stock_days, 0.0) / fresh.stocks
    qlib_seconds = per_stock * FULL_STOCKS + per_stock_day * full_stock_days
    print(
        f"\nFull market, estimated ({FULL_STOCKS:,} stocks x {FULL_DATES:,} dates = {full_stock_days:,} stock-days, "
        "an upper bound: every stock listed on every date):"
    )
    print(
        f"  qlib size    = 9 fields x 4 bytes x {full_stock_days:,} = {qlib_bytes / 1e9:.2f} GB "
        f"(+4 bytes per file; measured here {fresh.size_bytes / stock_days:.1f} bytes per stock-day)"
    )
    print(
        f"  qlib time    = fit on two fresh exports ({fresh.elapsed_seconds:.1f} s for {stock_days:,} stock-days, "
        f"{half.elapsed_seconds:.1f} s for {half_stock_days:,}): {per_stock * 1e3:.2f} ms per stock + "
        f"{per_stock_day * 1e6:.1f} us per stock-day;\n"
        f"                 {per_stock * 1e3:.2f} ms x {FULL_STOCKS:,} + {per_stock_day * 1e6:.1f} us x "
        f"{full_stock_days:,} = {qlib_seconds / 60:.1f} min (each export, incremental included)"
    )
    parquet_bytes = 0.0
    for table, share in FULL_SHARE.items():
        table_bytes = folder_size(workdir / "parquet" / table)[0]
        table_rows = parquet.rows[table]
        full_rows = share * full_stock_days
        parquet_bytes += table_bytes / table_rows * full_rows
        print(
            f"  parquet {table:<12} {table_bytes / table_rows:6.1f} bytes/row x {full_rows / 1e6:5.1f} M rows "
            f"= {table_bytes / table_rows * full_rows / 1e9:.2f} GB"
        )
    rows_total = sum(parquet.rows.values())
    full_rows_total = sum(share * full_stock_days for share in FULL_SHARE.values())
    parquet_seconds = parquet.elapsed_seconds / rows_total * full_rows_total
    print(f"  parquet size = {parquet_bytes / 1e9:.2f} GB (bytes per row at this data's compression)")
    print(
        f"  parquet time = {parquet.elapsed_seconds:.1f} s / {rows_total:,} rows x {full_rows_total / 1e6:.0f} M rows "
        f"= {parquet_seconds / 60:.0f} min"
    )


if __name__ == "__main__":
    main()
