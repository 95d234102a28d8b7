"""Warehouse writes are atomic, idempotent and refuse malformed answers."""

from datetime import date

import pytest

from stock_pipeline.datasets import DAILY, STOCK_BASIC
from stock_pipeline.tushare.client import TushareFrame
from stock_pipeline.tushare.errors import TushareSchemaError
from stock_pipeline.warehouse import Batch, Warehouse, frame_to_batch
from stock_pipeline_tests.conftest import table_rows

DAY = date(2024, 7, 5)


def _bar(code: str, close: float = 10.0) -> list:
    return [code, "20240705", close, close + 0.5, close - 0.5, close, close, 0.0, 0.0, 100.0, 1000.0]


def _daily(*items) -> Batch:
    return frame_to_batch(DAILY, TushareFrame("daily", DAILY.fields, [list(item) for item in items]))


@pytest.fixture
def warehouse(warehouse_url):
    store = Warehouse(warehouse_url)
    store.create_tables()
    yield store
    store.dispose()


def test_replacing_a_date_is_idempotent(warehouse, warehouse_url):
    batch = _daily(_bar("000001.SZ"), _bar("600000.SH", 8.0))
    warehouse.replace_date(DAILY, DAY, batch)
    first = table_rows(warehouse_url, DAILY)
    warehouse.replace_date(DAILY, DAY, batch)

    assert table_rows(warehouse_url, DAILY) == first
    assert [(row[0], row[1], row[5]) for row in first] == [("000001.SZ", DAY, 10.0), ("600000.SH", DAY, 8.0)]


def test_a_write_failing_midway_leaves_the_previous_state(warehouse, warehouse_url):
    warehouse.replace_date(DAILY, DAY, _daily(_bar("000001.SZ"), _bar("600000.SH")), "first-run")
    before = table_rows(warehouse_url, DAILY)
    # Two rows with one key get past the old rows' DELETE and then break the primary key mid-insert.
    colliding = Batch(tuple(zip(*[tuple(_bar("000002.SZ")), tuple(_bar("000002.SZ", 11.0))], strict=True)))

    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        warehouse.replace_date(DAILY, DAY, colliding, "second-run")

    assert table_rows(warehouse_url, DAILY) == before
    assert warehouse.last_commits(DAILY, [DAY.isoformat()]) == {DAY.isoformat(): "first-run"}


def test_upserts_never_prune(warehouse, warehouse_url):
    def stock(code: str, status: str) -> list:
        values = dict.fromkeys(STOCK_BASIC.fields)
        values.update(ts_code=code, list_status=status, list_date="20000101")
        return list(values.values())

    frame = TushareFrame("stock_basic", STOCK_BASIC.fields, [stock("000001.SZ", "L"), stock("000002.SZ", "L")])
    warehouse.upsert(STOCK_BASIC, frame_to_batch(STOCK_BASIC, frame))
    later = TushareFrame("stock_basic", STOCK_BASIC.fields, [stock("000002.SZ", "D")])
    warehouse.upsert(STOCK_BASIC, frame_to_batch(STOCK_BASIC, later))

    status = {row[0]: row[STOCK_BASIC.fields.index("list_status")] for row in table_rows(warehouse_url, STOCK_BASIC)}
    assert status == {"000001.SZ": "L", "000002.SZ": "D"}


def test_exact_duplicate_rows_are_dropped_and_conflicting_ones_refused():
    assert len(_daily(_bar("000001.SZ"), _bar("000001.SZ"), _bar("000002.SZ"))) == 2
    with pytest.raises(TushareSchemaError, match="share a key"):
        _daily(_bar("000001.SZ"), _bar("000001.SZ", 11.0))


@pytest.mark.parametrize(
    ("position", "value", "message"),
    [
        (5, "10.5", "column `close` should hold float values but has '10.5'"),
        (1, "2024-07-05", "column `trade_date` should hold YYYYMMDD dates"),
        (0, None, "key column `ts_code` has empty values"),
    ],
)
def test_wrong_types_are_refused_with_the_column_named(position, value, message):
    row = _bar("000001.SZ")
    row[position] = value
    with pytest.raises(TushareSchemaError, match=message):
        _daily(row)
