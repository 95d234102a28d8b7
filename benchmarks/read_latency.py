"""Benchmark: reading back through `pro_api` / `pro_bar` against the same call over HTTP to the bundled server.

    python -m benchmarks.read_latency [--stocks 4000] [--years 10] [--backends sqlite,postgres] [--repeat 7]

One warehouse per backend from a SYNTHETIC `--stocks` market:
- whole-market days: trade_cal, stock_basic, then daily, adj_factor and daily_basic for three trading days,
  synced by the pipeline's own sync functions (one call per trading date and dataset, as the trading-date
  assets make, without Dagster around them);
- one stock's `--years` years of daily and adj_factor, loaded from that stock's own answers (one paged call per
  dataset) through the warehouse's atomic write (`Warehouse.replace_rows`). The pipeline syncs by trading date:
  ten years are about 2,430 dates x 2 datasets of whole-market answers, 0.1-0.2 s each here, so 10-20 minutes
  per backend before anything is measured, against a few seconds for this load. The read measured is the same
  either way: an indexed lookup of one stock's rows by (ts_code, trade_date) (the other stocks' rows of those
  years would be absent from the index range read, not scanned).

Each call is timed `--repeat` times after a warm-up; the table shows medians. The official client
(`tushare.pro_api` pointed at the server, `tushare.pro_bar(api=...)`) is the HTTP side: the request, the server
building its answer, JSON, the client's DataFrame. The bundled server answers on loopback; against the real
service add the internet round trip (tens to hundreds of ms) to the HTTP column. Every pair of answers is
checked equal (`assert_frame_equal`) before it is timed.
"""

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import sqlalchemy as sa
import tushare
from pandas.testing import assert_frame_equal

from stock_pipeline import sync
from stock_pipeline.datasets import ADJ_FACTOR, DAILY, DAILY_BASIC
from stock_pipeline.reads.pro_api import pro_api
from stock_pipeline.reads.pro_bar import pro_bar
from stock_pipeline.tushare.client import TushareClient
from stock_pipeline.warehouse import Warehouse, frame_to_batch
from stock_pipeline_tests.databases import fresh_warehouse_url
from tushare_double.app import ServerConfig
from tushare_double.launcher import ServerProcess

TOKEN = "0123456789abcdef0123456789abcdef0123456789abcdef01234567"
# The server's clock: every row up to this Friday is published.
NOW = "2024-07-12T18:00:00+08:00"
LAST_DAY = date(2024, 7, 12)
MARKET_DAYS = (date(2024, 7, 10), date(2024, 7, 11), LAST_DAY)


def sync_market_days(client: TushareClient, db_url: str) -> float:
    """The calendar, the stock list and three whole-market trading dates; seconds taken."""
    started = time.perf_counter()
    warehouse = Warehouse(db_url)
    warehouse.create_tables()
    sync.sync_trade_cal(client, warehouse, MARKET_DAYS[0], LAST_DAY)
    sync.sync_stock_basic(client, warehouse)
    for dataset in (DAILY, ADJ_FACTOR, DAILY_BASIC):
        sync.sync_trade_dates(client, warehouse, dataset, MARKET_DAYS)
    warehouse.dispose()
    return time.perf_counter() - started


def load_stock_history(client: TushareClient, db_url: str, code: str, first: date) -> float:
    """One stock's daily and adj_factor from `first` to LAST_DAY, from its own answers; seconds taken."""
    started = time.perf_counter()
    warehouse = Warehouse(db_url)
    params = {"ts_code": code, "start_date": first.strftime("%Y%m%d"), "end_date": LAST_DAY.strftime("%Y%m%d")}
    for dataset in (DAILY, ADJ_FACTOR):
        frame = client.query(dataset.api_name, params, dataset.fields, dataset.row_cap)
        warehouse.replace_rows(dataset, frame_to_batch(dataset, frame), f"history:{code}", {"ts_code": [code]})
    warehouse.dispose()
    return time.perf_counter() - started


def median_ms(call: Callable[[], object], repeat: int) -> float:
    call()
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000


def long_listed_stock(db_url: str, first: date) -> str:
    engine = sa.create_engine(db_url)
    table = sa.table("stock_basic", sa.column("ts_code"), sa.column("list_date"), sa.column("delist_date"))
    with engine.connect() as conn:
        code = conn.execute(
            sa.select(table.c.ts_code)
            .where(table.c.list_date < first, table.c.delist_date.is_(None))
            .order_by(table.c.ts_code)
            .limit(1)
        ).scalar_one()
    engine.dispose()
    return code


def measure(cases: list[tuple[str, str, Callable, Callable]], repeat: int) -> list[dict[str, object]]:
    """Per case: check both answers equal, then time each side."""
    results = []
    for case, call_text, local, official in cases:
        answered, expected = local(), official()
        assert_frame_equal(answered, expected)
        results.append(
            {
                "case": case,
                "call": call_text,
                "rows": len(answered),
                "local_ms": median_ms(local, repeat),
                "http_ms": median_ms(official, repeat),
            }
        )
    return results


def run_backend(backend: str, server: ServerProcess, args, workdir: Path) -> dict:
    first_day = date(LAST_DAY.year - args.years, LAST_DAY.month, LAST_DAY.day)
    official = tushare.pro_api(TOKEN)
    official._DataApi__http_url = server.url
    client = TushareClient(server.token, server.url, timeout=300)
    with fresh_warehouse_url(backend, workdir, "sp_read_bench") as db_url:
        market_sync = sync_market_days(client, db_url)
        code = long_listed_stock(db_url, first_day)
        history_load = load_stock_history(client, db_url, code, first_day)
        pro = pro_api(db_url)
        day = MARKET_DAYS[1].strftime("%Y%m%d")
        start, end = first_day.strftime("%Y%m%d"), LAST_DAY.strftime("%Y%m%d")
        years = f"{args.years}y"
        cases = [
            (
                "whole-market day",
                f"daily(trade_date={day})",
                lambda: pro.daily(trade_date=day),
                lambda: official.daily(trade_date=day),
            ),
            (
                "whole-market day",
                f"adj_factor(trade_date={day})",
                lambda: pro.adj_factor(trade_date=day),
                lambda: official.adj_factor(trade_date=day),
            ),
            (
                "whole-market day",
                f"daily_basic(trade_date={day})",
                lambda: pro.daily_basic(trade_date=day),
                lambda: official.daily_basic(trade_date=day),
            ),
            (
                f"one stock, {years}",
                f"daily({code}, {years})",
                lambda: pro.daily(ts_code=code, start_date=start, end_date=end),
                lambda: official.daily(ts_code=code, start_date=start, end_date=end),
            ),
            (
                f"one stock, {years}",
                f"pro_bar({code}, {years}, qfq)",
                lambda: pro_bar(code, start_date=start, end_date=end, adj="qfq", api=pro),
                lambda: tushare.pro_bar(code, api=official, start_date=start, end_date=end, adj="qfq"),
            ),
            (
                f"one stock, {years}",
                f"pro_bar({code}, {years}, hfq, ma 5/20)",
                lambda: pro_bar(code, start_date=start, end_date=end, adj="hfq", ma=[5, 20], api=pro),
                lambda: tushare.pro_bar(code, api=official, start_date=start, end_date=end, adj="hfq", ma=[5, 20]),
            ),
        ]
        results = measure(cases, args.repeat)
    return {"backend": backend, "market_sync_s": market_sync, "history_load_s": history_load, "results": results}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stocks", type=int, default=4000)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    config = ServerConfig(tokens={TOKEN: 5000}, n_stocks=args.stocks, now=NOW, rate_limit_default=0)
    with tempfile.TemporaryDirectory() as workdir, ServerProcess(config) as server:
        runs = [run_backend(backend, server, args, Path(workdir)) for backend in args.backends.split(",")]

    print(
        f"\nRead latency, median of {args.repeat} calls (ms): pro_api / pro_bar over the warehouse against the "
        "official tushare client over HTTP to the bundled SYNTHETIC server (loopback)."
    )
    print(
        f"A {args.stocks}-stock market: whole-market days synced by trading date; one stock's {args.years} years "
        "of daily and adj_factor loaded from its own answers (see the module doc)."
    )
    print(f"\n{'backend':<10} {'case':<18} {'call':<42} {'rows':>6} {'local ms':>9} {'HTTP ms':>9} {'speed-up':>9}")
    for run in runs:
        for row in run["results"]:
            print(
                f"{run['backend']:<10} {row['case']:<18} {row['call']:<42} {row['rows']:>6} "
                f"{row['local_ms']:>9.1f} {row['http_ms']:>9.1f} {row['http_ms'] / row['local_ms']:>8.1f}x"
            )
    for run in runs:
        print(
            f"setup ({run['backend']}): 3 whole-market days synced in {run['market_sync_s']:.0f} s, "
            f"one stock's {args.years} years loaded in {run['history_load_s']:.0f} s"
        )


if __name__ == "__main__":
    main()
