"""python -m stock_pipeline.export {qlib,parquet} --out DIR ...: prints one summary line, or one error line
and exits 1."""

import argparse
import logging
import sys
from datetime import date

from stock_pipeline.export import ExportError, export_parquet, export_qlib


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date like 2024-07-01") from None


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m stock_pipeline.export", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    qlib = commands.add_parser("qlib", help="write or append to a qlib data folder (provider_uri)")
    qlib.add_argument("--out", required=True, help="the qlib folder; created, or updated by appending")
    qlib.add_argument("--start", type=_day, help="first trading date (default: the first with daily bars)")
    qlib.add_argument("--end", type=_day, help="last trading date (default: the last with daily bars)")
    parquet = commands.add_parser("parquet", help="replace a folder of Parquet datasets, one per table")
    parquet.add_argument("--out", required=True, help="the folder; replaced whole")
    for command in (qlib, parquet):
        command.add_argument("--db-url", help="warehouse URL (default: $STOCK_PIPELINE_DB_URL or ./data/warehouse.db)")
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s", stream=sys.stderr)
    try:
        if args.command == "qlib":
            report = export_qlib(args.out, args.db_url, args.start, args.end)
        else:
            report = export_parquet(args.out, args.db_url)
    except ExportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
