"""Helpers for scripts/demo.sh: pick the recent trading dates to sync and print what was synced.

python -m stock_pipeline.demo recent-range --days 20   # prints FIRST...LAST for --partition-range
python -m stock_pipeline.demo summary
"""

import argparse
from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
import sqlalchemy as sa

from stock_pipeline import settings
from stock_pipeline.datasets import DAILY, STOCK_BASIC, TRADE_DATE_DATASETS
from stock_pipeline.defs.market.partitions import trading_days
from stock_pipeline.warehouse import TABLES, Warehouse


def recent_range(warehouse: Warehouse, days: int, now: datetime) -> str:
    """The last `days` open dates whose data is fully published at `now` (Asia/Shanghai)."""
    last_publication = max(dataset.published_at for dataset in TRADE_DATE_DATASETS)
    today = now.date()
    open_days = sorted(
        day
        for day, is_open in warehouse.calendar().items()
        if is_open and (day < today or (day == today and now.time() >= last_publication))
    )
    if not open_days:
        raise SystemExit("The warehouse has no trading calendar yet: materialize trade_cal first.")
    chosen = open_days[-days:]
    return f"{chosen[0].isoformat()}...{chosen[-1].isoformat()}"


def summary(warehouse: Warehouse) -> str:
    lines = [f"Warehouse: {warehouse.engine.url.render_as_string(hide_password=True)}"]
    with warehouse.engine.connect() as conn:
        stock_table = TABLES[STOCK_BASIC.api_name]
        statuses = dict(
            conn.execute(
                sa.select(stock_table.c.list_status, sa.func.count()).group_by(stock_table.c.list_status)
            ).all()
        )
        lines.append(
            f"{'stock_basic':<12} {sum(statuses.values()):>9} stocks  "
            + ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))
        )
        for dataset in TRADE_DATE_DATASETS:
            table = TABLES[dataset.api_name]
            day = table.c[dataset.date_column]
            rows, dates, first, last = conn.execute(
                sa.select(sa.func.count(), sa.func.count(sa.distinct(day)), sa.func.min(day), sa.func.max(day))
            ).one()
            lines.append(f"{dataset.api_name:<12} {rows:>9} rows    {dates} trading dates {first} .. {last}")
    instance = dg.DagsterInstance.get()
    event = instance.get_latest_materialization_event(dg.AssetKey(STOCK_BASIC.api_name))
    if event and event.asset_materialization:
        source = event.asset_materialization.metadata.get("source")
        lines.append(f"Source: {source.value if source else 'unknown'}")
    # The UI measures progress against every partition since the start date: say so, or 20 dates look like 0 %.
    done = len(instance.get_materialized_partitions(dg.AssetKey(DAILY.api_name)))
    lines.append(
        f"Dagster: {done} of {len(trading_days.get_partition_keys())} trading-date partitions of daily are "
        f"materialized; the history since {settings.start_date()} is one backfill away (README: A first real sync)."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stock_pipeline.demo")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("recent-range").add_argument("--days", type=int, default=20)
    commands.add_parser("summary")
    args = parser.parse_args(argv)
    warehouse = Warehouse(settings.db_url())
    try:
        if args.command == "recent-range":
            print(recent_range(warehouse, args.days, datetime.now(ZoneInfo(settings.TIMEZONE))))
        else:
            print(summary(warehouse))
    finally:
        warehouse.dispose()


if __name__ == "__main__":
    main()
