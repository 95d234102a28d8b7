"""The datasets a backtest needs — suspensions, price limits, name history, dividends, indexes and
industries — synced and equal to the double's answers, and the point-in-time universe of a day."""

from collections import Counter
from datetime import date, timedelta

import dagster as dg
import pytest
import sqlalchemy as sa

import stock_pipeline as sp
from stock_pipeline.datasets import (
    DAILY,
    DIVIDEND,
    INDEX_DAILY,
    INDEX_WEIGHT,
    SNAPSHOT_DATASETS,
    STK_LIMIT,
    SUSPEND_D,
    TushareDataset,
)
from stock_pipeline.defs.financials.dividends import dividend
from stock_pipeline.defs.financials.partitions import batch_of
from stock_pipeline.defs.indexes.assets import index_history_assets, index_snapshot_assets
from stock_pipeline.defs.market import checks
from stock_pipeline.defs.market.assets import trade_date_assets
from stock_pipeline.defs.market.jobs import daily_sync_job, late_corrections_job
from stock_pipeline.defs.reference.assets import namechange
from stock_pipeline.warehouse import TABLES, Warehouse
from stock_pipeline_tests.conftest import (
    SERVER_NOW,
    TEST_TOKEN,
    failure_message,
    make_resources,
    materialize_dates,
    materialize_reference,
    server_items,
)
from tushare_double.app import ServerConfig
from tushare_double.launcher import ServerProcess

LOW_POINTS_TOKEN = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba98"
DAYS = ("2024-07-01", "2024-07-05")
# What the whole table is, per the Tushare docs, independently of the calls the pipeline declares:
# index_basic without `market` answers every market; index_member_all holds current (is_new Y) and ended
# (N) memberships; SW2021 is the classification the universe reads.
WHOLE_TABLE = {
    "namechange": [{}],
    "index_basic": [{}],
    "index_classify": [{"src": "SW2021"}],
    "index_member_all": [{"is_new": "Y"}, {"is_new": "N"}],
}
SNAPSHOT_ASSETS = [namechange, *index_snapshot_assets]
ASSETS = {asset.key.path[0]: asset for asset in (*trade_date_assets, *SNAPSHOT_ASSETS, *index_history_assets, dividend)}


@pytest.fixture
def server():
    config = ServerConfig(
        tokens={TEST_TOKEN: 5000, LOW_POINTS_TOKEN: 120}, n_stocks=300, now=SERVER_NOW, rate_limit_default=0
    )
    with ServerProcess(config) as process:
        yield process


def _stored(url: str, dataset: TushareDataset, where: str = "", **params) -> Counter:
    """The table's rows as Tushare spells them (dates YYYYMMDD), counted."""
    table = TABLES[dataset.api_name]
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(*(table.c[name] for name in dataset.fields)).where(sa.text(where or "1=1")), params
        )
        stored = Counter(tuple(_tushare(value) for value in row) for row in rows)
    engine.dispose()
    return stored


def _tushare(value):
    if isinstance(value, date):
        return value.strftime("%Y%m%d")
    if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
        return value.replace("-", "")  # SQLite text reads of DATE columns in raw SQL
    return value


def _served(server, dataset: TushareDataset, params: dict) -> Counter:
    return Counter(
        tuple(row) for row in set(map(tuple, server_items(server, dataset.api_name, params, dataset.fields)))
    )


def test_trade_date_datasets_equal_the_services_answers(server, warehouse_url):
    resources = make_resources(server, warehouse_url)
    assert materialize_reference(resources).success

    result = materialize_dates([ASSETS["suspend_d"], ASSETS["stk_limit"]], resources, *DAYS)

    assert result.success
    for dataset in (SUSPEND_D, STK_LIMIT):
        for day in range(1, 6):
            key = f"202407{day:02d}"
            served = _served(server, dataset, {"trade_date": key})
            assert _stored(warehouse_url, dataset, "trade_date = :d", d=date(2024, 7, day)) == served
    assert sum(_stored(warehouse_url, SUSPEND_D).values()) > 0  # the double suspends some stocks


def test_snapshots_equal_the_services_answers(server, warehouse_url):
    resources = make_resources(server, warehouse_url)
    assert materialize_reference(resources).success

    result = dg.materialize(SNAPSHOT_ASSETS, resources=resources)

    assert result.success
    for dataset in SNAPSHOT_DATASETS:
        served = Counter()
        for params in WHOLE_TABLE[dataset.api_name]:
            served |= _served(server, dataset, params)
        assert served, dataset.api_name
        assert +_stored(warehouse_url, dataset) == +Counter(dict.fromkeys(served, 1)), dataset.api_name


def test_dividends_of_a_batch_equal_the_services_answers(server, warehouse_url):
    resources = make_resources(server, warehouse_url)
    assert materialize_reference(resources).success
    store = Warehouse(warehouse_url)
    stocks = [code for code in store.stock_codes() if batch_of(code) == "batch_02"]
    store.dispose()

    assert dg.materialize([dividend], resources=resources, partition_key="batch_02").success
    assert server.stats()["calls"]["dividend"] == len(stocks)  # one call per stock

    served = Counter()
    for code in stocks:
        served |= _served(server, DIVIDEND, {"ts_code": code})
    assert served
    assert _stored(warehouse_url, DIVIDEND) == served


@pytest.mark.parametrize("code", ["000300.SH", "399006.SZ"])
def test_index_bars_and_weights_equal_the_services_answers(server, warehouse_url, code):
    resources = make_resources(server, warehouse_url)
    assert materialize_reference(resources).success
    assert dg.materialize([ASSETS["index_basic"]], resources=resources).success

    result = dg.materialize([ASSETS["index_daily"], ASSETS["index_weight"]], resources=resources, partition_key=code)

    assert result.success
    today = SERVER_NOW[:10].replace("-", "")
    for dataset in (INDEX_DAILY, INDEX_WEIGHT):
        params = {dataset.code_param: code, "start_date": "19901219", "end_date": today}
        served = _served(server, dataset, params)
        assert served, dataset.api_name
        stored = _stored(warehouse_url, dataset)
        assert +stored == +Counter(dict.fromkeys(served, 1)), dataset.api_name


def test_a_dataset_beyond_the_accounts_points_fails_alone(server, warehouse_url):
    assert materialize_reference(make_resources(server, warehouse_url)).success
    low = make_resources(server, warehouse_url, token=LOW_POINTS_TOKEN)

    result = materialize_dates([ASSETS["daily"], ASSETS["stk_limit"]], low, DAYS[0], DAYS[0], raise_on_error=False)

    assert not result.success
    failed = {event.step_key for event in result.get_step_failure_events()}
    assert failed == {"stk_limit"}
    assert "stk_limit" in failure_message(result) and "权限" in failure_message(result)
    assert result.asset_materializations_for_node("daily")  # daily (120 points) was stored


def test_the_daily_schedule_and_late_corrections_cover_the_new_trade_date_datasets():
    daily = {key.path[0] for key in daily_sync_job.selection.resolve(sp.defs.resolve_asset_graph())}
    late = {key.path[0] for key in late_corrections_job.selection.resolve(sp.defs.resolve_asset_graph())}
    assert {"suspend_d", "stk_limit", "daily"} <= daily
    assert "suspend_d" in late


def _whole_day_suspensions(url: str) -> list[tuple]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT ts_code, trade_date FROM suspend_d WHERE suspend_type = 'S' AND suspend_timing IS NULL")
        ).all()
    engine.dispose()
    return rows


def test_the_universe_of_a_day_is_what_was_known_that_day(server, warehouse_url):
    resources = make_resources(server, warehouse_url)
    assert materialize_reference(resources).success
    assert dg.materialize(SNAPSHOT_ASSETS, resources=resources).success
    assert materialize_dates([ASSETS["suspend_d"], ASSETS["stk_limit"]], resources, *DAYS).success
    engine = sa.create_engine(warehouse_url)
    with engine.connect() as conn:
        stock_rows = conn.execute(sa.text("SELECT ts_code, list_date, delist_date FROM stock_basic")).all()
    engine.dispose()
    day = date(2024, 7, 3)

    frame = sp.universe(day, db_url=warehouse_url)

    listed = {
        code
        for code, list_date, delist_date in stock_rows
        if _as_date(list_date) <= day and (delist_date is None or _as_date(delist_date) > day)
    }
    assert set(frame["ts_code"]) == listed and frame["ts_code"].is_unique
    assert list(frame.columns)[:7] == ["ts_code", "name", "is_st", "is_suspended", "up_limit", "down_limit", "industry"]
    suspended_today = {code for code, when in _whole_day_suspensions(warehouse_url) if _as_date(when) == day}
    assert suspended_today & listed  # the day has a suspension
    assert set(frame.loc[frame["is_suspended"], "ts_code"]) == suspended_today & listed
    limits = _stored(warehouse_url, STK_LIMIT, "trade_date = :d", d=day)
    position = {name: STK_LIMIT.fields.index(name) for name in ("ts_code", "up_limit", "down_limit")}
    expected_limits = {
        row[position["ts_code"]]: (row[position["up_limit"]], row[position["down_limit"]]) for row in limits
    }
    for row in frame.itertuples():
        if row.ts_code in expected_limits:
            assert (row.up_limit, row.down_limit) == expected_limits[row.ts_code]
    assert frame["industry"].notna().mean() > 0.9  # nearly every listed stock has an SW industry that day
    assert frame["is_st"].any()  # the double has ST stocks
    assert all(frame.loc[frame["is_st"], "name"].str.contains("ST"))
    # A stock listed that very day is in; one delisted later is in too (survivorship).
    listed_today = {code for code, list_date, _ in stock_rows if _as_date(list_date) == day}
    delisted_later = {
        code for code, list_date, delist in stock_rows if delist and _as_date(delist) > day >= _as_date(list_date)
    }
    assert listed_today <= set(frame["ts_code"]) and delisted_later <= set(frame["ts_code"])


def test_the_universe_never_shows_a_name_announced_after_the_day(server, warehouse_url):
    resources = make_resources(server, warehouse_url)
    assert materialize_reference(resources).success
    assert dg.materialize(SNAPSHOT_ASSETS, resources=resources).success
    engine = sa.create_engine(warehouse_url)
    with engine.connect() as conn:
        changes = conn.execute(
            sa.text(
                "SELECT ts_code, name, start_date, ann_date FROM namechange "
                "WHERE ann_date IS NOT NULL AND start_date IS NOT NULL ORDER BY ts_code, start_date"
            )
        ).all()
    engine.dispose()
    stock_list = {code for code in Warehouse(warehouse_url).stock_codes()}
    checked = 0
    for code, name, start, announced in changes:
        effective = max(_as_date(start), _as_date(announced))
        if code not in stock_list or effective <= date(1995, 1, 1):
            continue
        before = sp.universe(effective - timedelta(days=1), db_url=warehouse_url)
        after = sp.universe(effective, db_url=warehouse_url)
        names_before = before.set_index("ts_code")["name"].to_dict()
        names_after = after.set_index("ts_code")["name"].to_dict()
        if code in names_before:
            assert names_before[code] != name or _previous_name_equal(changes, code, start, name)
        if code in names_after:
            assert names_after[code] == name
            checked += 1
        if checked >= 5:
            break
    assert checked >= 3


def _previous_name_equal(changes, code, start, name) -> bool:
    earlier = [row for row in changes if row[0] == code and _as_date(row[2]) < _as_date(start)]
    return bool(earlier) and earlier[-1][1] == name


def _as_date(value) -> date:
    if isinstance(value, date):
        return value
    text = str(value).replace("-", "")
    return date(int(text[:4]), int(text[4:6]), int(text[6:8]))


def test_daily_coverage_counts_whole_day_suspensions_as_expected_absent(server, warehouse_url):
    resources = make_resources(server, warehouse_url)
    assert materialize_reference(resources).success
    assert materialize_dates([ASSETS["daily"], ASSETS["suspend_d"]], resources, "2024-07-03", "2024-07-03").success
    day = date(2024, 7, 3)
    store = Warehouse(warehouse_url)
    daily, suspend = TABLES["daily"], TABLES["suspend_d"]

    def coverage_passes() -> bool:
        [result] = [check for check in checks.evaluate(store, DAILY, [day]) if check.check_name == "rows_vs_listed"]
        return result.passed

    assert coverage_passes()
    with store.engine.begin() as conn:
        traded = sorted(conn.execute(sa.select(daily.c.ts_code).where(daily.c.trade_date == day)).scalars())
        halted = traded[: len(traded) // 2]  # a July-2015 day: half the market suspended, and said so
        conn.execute(daily.delete().where(daily.c.trade_date == day, daily.c.ts_code.in_(halted)))
        conn.execute(
            suspend.insert(),
            [{"ts_code": code, "trade_date": day, "suspend_type": "S", "suspend_timing": None} for code in halted],
        )
    assert coverage_passes()
    with store.engine.begin() as conn:  # a truly partial answer: rows missing with no suspension behind them
        conn.execute(daily.delete().where(daily.c.trade_date == day, daily.c.ts_code.in_(traded[-len(traded) // 4 :])))
    assert not coverage_passes()
    store.dispose()
