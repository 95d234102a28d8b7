"""The qlib and Parquet exports read back by the real tools — pyqlib and DuckDB — and compared with the
warehouse synced from the bundled server, with the expected values worked out here from the raw tables
and the documented conventions (hfq prices = raw × adj_factor, raw = qlib price / $factor)."""

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
import sqlalchemy as sa

from stock_pipeline.defs.exports.assets import ParquetExportConfig, QlibExportConfig, parquet_export, qlib_export
from stock_pipeline.defs.market.assets import trade_date_assets
from stock_pipeline.export import export_qlib
from stock_pipeline.export.__main__ import main
from stock_pipeline.resources import WarehouseResource
from stock_pipeline.warehouse import Warehouse
from stock_pipeline_tests.conftest import failure_message, make_resources, materialize_dates, materialize_reference

FIRST_DAYS = ("2024-07-01", "2024-07-05")
LATER_DAYS = ("2024-07-08", "2024-07-10")
SYNCED_TABLES = ("trade_cal", "stock_basic", "daily", "adj_factor", "suspend_d")
FIELDS = ("$open", "$high", "$low", "$close", "$volume", "$amount", "$vwap", "$change", "$factor")
# float32 keeps about 7 significant digits.
RTOL = 3e-6
REPO = Path(__file__).resolve().parents[1]

# pyqlib keeps global state (its config, caches, a logger); each read runs in a process of its own.
READ_WITH_QLIB = """
import json, math, sys
import qlib
from qlib.data import D
qlib.init(provider_uri=sys.argv[1], region="cn", kernels=1)
calendar = [str(day.date()) for day in D.calendar(freq="day")]
instruments = D.list_instruments(D.instruments("all"), as_list=False)
fields = sys.argv[2].split(",")
frame = D.features(D.instruments("all"), fields, start_time=calendar[0], end_time=calendar[-1])
rows = [
    [code, str(day.date()), *(None if math.isnan(value) else float(value) for value in values)]
    for (code, day), values in zip(frame.index, frame.to_numpy().tolist())
]
spans = {code: [[str(a.date()), str(b.date())] for a, b in ranges] for code, ranges in instruments.items()}
print(json.dumps({"calendar": calendar, "instruments": spans, "rows": rows}))
"""


def _sync(resources, days) -> None:
    market = [asset for asset in trade_date_assets if asset.key.path[0] in ("daily", "adj_factor", "suspend_d")]
    assert materialize_reference(resources).success
    assert materialize_dates(market, resources, *days).success


def _run_export(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stock_pipeline.export", *args], capture_output=True, text=True, cwd=REPO, timeout=300
    )


def _read_qlib(folder: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", READ_WITH_QLIB, str(folder), ",".join(FIELDS)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _query(url: str, sql: str, **params) -> list[tuple]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = [tuple(row) for row in conn.execute(sa.text(sql), params)]
    engine.dispose()
    return rows


def _iso(value) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)[:10]


def _qlib_code(ts_code: str) -> str:
    number, exchange = ts_code.split(".")
    return exchange + number


def _assert_qlib_equals_warehouse(read: dict, url: str) -> None:
    bars = {
        (_qlib_code(code), _iso(day)): (o, h, low, c, pre, vol, amount, factor)
        for code, day, o, h, low, c, pre, vol, amount, factor in _query(
            url,
            "SELECT d.ts_code, d.trade_date, d.open, d.high, d.low, d.close, d.pre_close, d.vol, d.amount, "
            "a.adj_factor FROM daily d JOIN adj_factor a ON a.ts_code = d.ts_code AND a.trade_date = d.trade_date",
        )
    }
    days = sorted({day for _, day in bars})
    assert read["calendar"] == [
        _iso(day)
        for (day,) in _query(
            url,
            "SELECT cal_date FROM trade_cal WHERE exchange = 'SSE' AND is_open = 1 "
            "AND cal_date BETWEEN :a AND :b ORDER BY cal_date",
            a=date.fromisoformat(days[0]),
            b=date.fromisoformat(days[-1]),
        )
    ]
    read_rows = {(code, day): values for code, day, *values in read["rows"]}
    for key, (o, h, low, c, pre, vol, amount, factor) in bars.items():
        q_open, q_high, q_low, q_close, q_volume, q_amount, q_vwap, q_change, q_factor = read_rows.pop(key)
        assert q_factor == pytest.approx(factor, rel=RTOL), key
        raw = [q_open / q_factor, q_high / q_factor, q_low / q_factor, q_close / q_factor]
        assert raw == pytest.approx([o, h, low, c], rel=RTOL), key
        assert q_volume * q_factor == pytest.approx(vol * 100, rel=RTOL), key  # shares, hfq-adjusted
        assert q_amount == pytest.approx(amount * 1000, rel=RTOL), key  # yuan
        assert q_vwap / q_factor == pytest.approx(amount * 1000 / (vol * 100), rel=RTOL), key
        assert q_change == pytest.approx(c / pre - 1, rel=RTOL, abs=1e-7), key
    # What is left are the dates inside a stock's span without a bar: suspensions, all NaN.
    assert all(value is None for values in read_rows.values() for value in values)
    assert read_rows, "the window should hold a suspension inside some stock's bars"

    first, last = read["calendar"][0], read["calendar"][-1]
    expected_spans = {}
    for code, listed, delisted in _query(url, "SELECT ts_code, list_date, delist_date FROM stock_basic"):
        listed_days = [
            day for day in read["calendar"] if _iso(listed) <= day and (not delisted or day < _iso(delisted))
        ]
        if listed_days:
            expected_spans[_qlib_code(code)] = [[listed_days[0], listed_days[-1]]]
    assert read["instruments"] == expected_spans
    assert all(first <= a <= b <= last for [[a, b]] in read["instruments"].values())


def _files(folder: Path) -> dict[Path, tuple[bytes, int]]:
    return {path: (path.read_bytes(), path.stat().st_ino) for path in sorted((folder / "features").rglob("*.bin"))}


def test_qlib_export_reads_in_pyqlib_equal_to_the_warehouse_appends_and_rewrites_only_corrected_stocks(
    server, warehouse_url, tmp_path
):
    resources = make_resources(server, warehouse_url)
    _sync(resources, FIRST_DAYS)
    out = tmp_path / "qlib"

    first = _run_export("qlib", "--out", str(out), "--db-url", warehouse_url)

    assert first.returncode == 0, first.stderr[-2000:]
    assert (out / "calendars" / "day.txt").read_text().split() == [
        _iso(day) for (day,) in _query(warehouse_url, "SELECT DISTINCT trade_date FROM daily ORDER BY trade_date")
    ]
    before = _files(out)

    _sync(resources, LATER_DAYS)
    appended = export_qlib(out, warehouse_url)

    assert appended.rebuilt is None and appended.dates_added == 3
    assert appended.files["rewritten"] == 0 and appended.files["appended"] > 0
    after = _files(out)
    for path, (old_bytes, inode) in before.items():
        new_bytes, new_inode = after[path]
        assert new_bytes[: len(old_bytes)] == old_bytes, path  # earlier bytes untouched ...
        assert new_inode == inode, path  # ... in the same file, appended to, not replaced

    [(code,)] = _query(warehouse_url, "SELECT MIN(ts_code) FROM adj_factor")
    _execute(  # Tushare corrects a past factor
        warehouse_url,
        "UPDATE adj_factor SET adj_factor = adj_factor * 1.25 WHERE ts_code = :c AND trade_date = :d",
        c=code,
        d=date.fromisoformat(FIRST_DAYS[0]),
    )
    corrected = export_qlib(out, warehouse_url)

    assert corrected.stocks_rewritten == [_qlib_code(code)]
    # Every file of that stock but amount and change, which do not depend on the factor; nothing else.
    assert corrected.files["rewritten"] == 7 and corrected.files["unchanged"] == len(after) - 7
    rewritten = {path.parent.name for path, (content, _) in _files(out).items() if content != after[path][0]}
    assert rewritten == {_qlib_code(code).lower()}
    read = _read_qlib(out)  # once, at the end: the first export's bytes are the prefix of what it reads
    assert read["calendar"][0] == FIRST_DAYS[0] and read["calendar"][-1] == LATER_DAYS[1]
    _assert_qlib_equals_warehouse(read, warehouse_url)


def test_export_assets_write_what_duckdb_reads_as_the_tables_and_refuse_a_bad_row(server, warehouse_url, tmp_path):
    _sync(make_resources(server, warehouse_url), FIRST_DAYS)
    folders = {"qlib_export": tmp_path / "qlib", "parquet_export": tmp_path / "parquet"}
    run_config = dg.RunConfig(
        {
            "qlib_export": QlibExportConfig(out=str(folders["qlib_export"])),
            "parquet_export": ParquetExportConfig(out=str(folders["parquet_export"])),
        }
    )
    resources = {"warehouse": WarehouseResource(url=warehouse_url)}

    result = dg.materialize([qlib_export, parquet_export], resources=resources, run_config=run_config)

    assert result.success
    [qlib_event] = result.asset_materializations_for_node("qlib_export")
    metadata = {key: value.value for key, value in qlib_event.metadata.items()}
    stocks = _query(warehouse_url, "SELECT COUNT(DISTINCT ts_code) FROM daily")[0][0]
    assert metadata["stocks"] == stocks and metadata["dates"] == 5 and metadata["files_created"] == 9 * stocks
    assert metadata["size_bytes"] > 0 and metadata["files_rewritten"] == 0
    [parquet_event] = result.asset_materializations_for_node("parquet_export")
    rows = _query(warehouse_url, "SELECT COUNT(*) FROM daily")[0][0]
    assert parquet_event.metadata["rows_per_table"].value["daily"] == rows
    _assert_parquet_equals_warehouse(folders["parquet_export"], warehouse_url)
    written = {name: _snapshot(folder) for name, folder in folders.items()}

    bad_day = date(2024, 7, 3)
    [(code,)] = _query(warehouse_url, "SELECT MIN(ts_code) FROM daily WHERE trade_date = :d", d=bad_day)
    _execute(warehouse_url, "UPDATE daily SET low = high + 1 WHERE ts_code = :c AND trade_date = :d", c=code, d=bad_day)
    failed = dg.materialize(
        [qlib_export, parquet_export], resources=resources, run_config=run_config, raise_on_error=False
    )

    assert not failed.success
    message = failure_message(failed)
    assert message.count("refusing to export bad data: daily rows breaking low <= open") == 2, message
    assert f"{bad_day} (1 rows)" in message
    assert {name: _snapshot(folder) for name, folder in folders.items()} == written  # nothing touched


def _assert_parquet_equals_warehouse(out: Path, url: str) -> None:
    assert (out / "daily" / "year=2024" / "part-0.parquet").is_file()
    engine = sa.create_engine(url)
    for table_name in SYNCED_TABLES:
        table = sa.Table(table_name, sa.MetaData(), autoload_with=engine)
        with engine.connect() as conn:
            stored = Counter(tuple(row) for row in conn.execute(sa.select(table)))
        columns = ", ".join(f'"{column.name}"' for column in table.columns)
        exported = Counter(
            duckdb.sql(
                f"SELECT {columns} FROM read_parquet('{out / table_name}/**/*.parquet', hive_partitioning=true)"
            ).fetchall()
        )
        assert stored and exported == stored, table_name
    engine.dispose()
    types = {row[0]: row[1] for row in duckdb.sql(f"DESCRIBE FROM read_parquet('{out}/daily/**/*.parquet')").fetchall()}
    assert types["trade_date"] == "DATE" and types["close"] == "DOUBLE"
    assert len(pd.read_parquet(out / "daily")) == _query(url, "SELECT COUNT(*) FROM daily")[0][0]


def _execute(url: str, sql: str, **params) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(sql), params)
    engine.dispose()


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


@pytest.mark.parametrize(
    "problem, args, expected",
    [
        ("no database", ["qlib", "--db-url", "sqlite:///{tmp}/absent.db"], "no warehouse at"),
        ("no database", ["parquet", "--db-url", "sqlite:///{tmp}/absent.db"], "no warehouse at"),
        ("empty warehouse", ["qlib", "--db-url", "{empty}"], "has no daily bars"),
        ("empty warehouse", ["parquet", "--db-url", "{empty}"], "holds no rows"),
        ("start after end", ["qlib", "--db-url", "{empty}", "--start", "2024-07-05", "--end", "2024-07-01"], "after"),
        ("not a warehouse", ["qlib", "--db-url", "sqlite:///{tmp}/other.db"], "is not a stock_pipeline warehouse"),
    ],
)
def test_bad_input_is_one_error_line_and_writes_nothing(tmp_path, capsys, problem, args, expected):
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    Warehouse(empty).create_tables()
    other = sa.create_engine(f"sqlite:///{tmp_path / 'other.db'}")
    with other.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE notes (body TEXT)")
    other.dispose()

    # The CLI's main in this process (the subprocess tests above run `python -m` itself).
    returncode = main([*(arg.format(tmp=tmp_path, empty=empty) for arg in args), "--out", str(tmp_path / "out")])

    stderr = capsys.readouterr().err
    assert returncode == 1, problem
    assert stderr.startswith("error: ") and stderr.count("\n") == 1 and expected in stderr, stderr
    assert not (tmp_path / "out").exists()
    assert not [path for path in tmp_path.iterdir() if "staging" in path.name]


def test_a_folder_not_written_by_the_exporter_is_never_overwritten(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    Warehouse(url).create_tables()
    for kind in ("qlib", "parquet"):
        folder = tmp_path / kind
        folder.mkdir()
        (folder / "mine.txt").write_text("research notes")

        assert main([kind, "--out", str(folder), "--db-url", url]) == 1

        assert "is not a" in capsys.readouterr().err
        assert [path.name for path in folder.iterdir()] == ["mine.txt"]
