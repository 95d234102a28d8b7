"""`pro_api` and `pro_bar` read back from the warehouse equal the official `tushare` client's answers.

One warehouse per backend (SQLite, PostgreSQL) is synced once from the bundled server through the pipeline's
own assets; the oracle is the official client (`tushare.pro_api`, `tushare.pro_bar`) asking that same server
over HTTP. The official client turns an HTTP error into an empty frame and ignores `has_more`, so the test
server's statement caps are raised (balancesheet, cashflow and fina_indicator answer 100 rows per call on the
real service, less than a long-listed stock's history) and every other call stays under its API's cap.
"""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from functools import partial

import dagster as dg
import pytest
import sqlalchemy as sa
import tushare
from pandas.testing import assert_frame_equal

from stock_pipeline.datasets import ALL_DATASETS
from stock_pipeline.defs.financials.assets import disclosure_date, statement_assets
from stock_pipeline.defs.financials.dividends import dividend
from stock_pipeline.defs.indexes.assets import index_history_assets, index_snapshot_assets
from stock_pipeline.defs.market.assets import trade_date_assets
from stock_pipeline.defs.reference.assets import namechange, stock_basic, trade_cal
from stock_pipeline.reads.pro_api import ProApiError, pro_api
from stock_pipeline.reads.pro_bar import pro_bar
from stock_pipeline.reads.views import create_daily_hfq_view
from stock_pipeline.resources import SyncPolicyResource
from stock_pipeline_tests.conftest import (
    SERVER_NOW,
    TEST_TOKEN,
    fresh_postgres_database,
    make_resources,
    range_tags,
)
from tushare_double.app import ServerConfig
from tushare_double.launcher import ServerProcess

# Ten trading days up to the server's clock (Friday 2024-07-12, 18:00: every row of the day published).
FIRST_DAY, LAST_DAY = "2024-07-01", "2024-07-12"
START, END = FIRST_DAY.replace("-", ""), LAST_DAY.replace("-", "")
BATCH = "batch_19"
INDEX = "000300.SH"
STATEMENT_CAPS = {"income": 2000, "balancesheet": 2000, "cashflow": 2000, "fina_indicator": 2000}


@pytest.fixture(scope="module")
def server():
    config = ServerConfig(
        tokens={TEST_TOKEN: 5000}, n_stocks=300, now=SERVER_NOW, rate_limit_default=0, row_caps=STATEMENT_CAPS
    )
    with ServerProcess(config) as process:
        yield process


@pytest.fixture(scope="module")
def official(server):
    client = tushare.pro_api(server.token)
    client._DataApi__http_url = server.url
    return client


def _sync(server, url: str) -> None:
    resources = make_resources(server, url) | {"sync_policy": SyncPolicyResource()}
    unpartitioned = [trade_cal, stock_basic, disclosure_date, namechange, *index_snapshot_assets]
    assert dg.materialize(unpartitioned, resources=resources).success
    days = range_tags(FIRST_DAY, LAST_DAY)
    assert dg.materialize(trade_date_assets, resources=resources, tags=days).success
    assert dg.materialize([*statement_assets, dividend], resources=resources, partition_key=BATCH).success
    assert dg.materialize(index_history_assets, resources=resources, partition_key=INDEX).success
    engine = sa.create_engine(url)
    create_daily_hfq_view(engine)
    engine.dispose()


@pytest.fixture(scope="module")
def warehouses(server, tmp_path_factory, postgres_admin_url) -> Iterator[dict[str, str]]:
    with fresh_postgres_database(postgres_admin_url, "sp_pro_api") as postgres:
        urls = {"sqlite": f"sqlite:///{tmp_path_factory.mktemp('pro_api') / 'warehouse.db'}", "postgres": postgres}
        # Both syncs mostly wait on the server and their database: run them at once.
        with ThreadPoolExecutor(len(urls)) as pool:
            list(pool.map(partial(_sync, server), urls.values()))
        yield urls


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def warehouse_url(request, warehouses) -> str:
    return warehouses[request.param]


@pytest.fixture(scope="module")
def facts(warehouse_url) -> dict[str, str]:
    """Codes and dates the calls below ask about, read from what was synced."""
    engine = sa.create_engine(warehouse_url)
    with engine.connect() as conn:
        one = conn.execute
        facts = {
            "batch_stock": one(sa.text("SELECT MIN(ts_code) FROM income")).scalar(),
            "batch_stocks": ",".join(one(sa.text("SELECT DISTINCT ts_code FROM dividend ORDER BY 1")).scalars()),
            "young_stock": one(sa.text("SELECT ts_code FROM income GROUP BY ts_code ORDER BY MIN(end_date) DESC"))
            .scalars()
            .first(),
            "period": _tushare(one(sa.text("SELECT MAX(end_date) FROM disclosure_date")).scalar()),
            "renamed": ",".join(
                one(sa.text("SELECT ts_code FROM namechange GROUP BY ts_code HAVING COUNT(*) > 2 ORDER BY 1"))
                .scalars()
                .all()[:3]
            ),
            "l1_code": one(sa.text("SELECT MIN(l1_code) FROM index_member_all")).scalar(),
        }
    engine.dispose()
    assert all(facts.values()), facts
    return facts


def _tushare(value) -> str:
    return value.strftime("%Y%m%d") if isinstance(value, date) else str(value).replace("-", "")


@pytest.fixture(scope="module")
def pro(warehouse_url):
    return pro_api(warehouse_url)


# (api, params) asked of both; "{name}" is filled in from `facts`.
CALLS = [
    ("trade_cal", {"start_date": "20240101", "end_date": "20241231"}),
    ("trade_cal", {"exchange": "SZSE", "start_date": "20230101", "end_date": "20240712", "is_open": "1"}),
    ("trade_cal", {"start_date": "20240601", "end_date": "20240630", "is_open": 0, "fields": "cal_date,is_open"}),
    ("stock_basic", {}),
    ("stock_basic", {"list_status": "D"}),
    ("stock_basic", {"list_status": "L,D,P", "fields": "ts_code,name,list_status,list_date,delist_date"}),
    ("stock_basic", {"exchange": "SZSE", "fields": ["ts_code", "market", "exchange", "is_hs"]}),
    ("stock_basic", {"ts_code": "000001.SZ,600000.SH", "list_status": "L"}),
    ("daily", {"trade_date": "20240708"}),
    ("daily", {"ts_code": "000001.SZ,600000.SH,{batch_stock}", "start_date": START, "end_date": END}),
    ("daily", {"ts_code": "000001.SZ", "start_date": START, "fields": "trade_date,close,pct_chg"}),
    ("daily", {"start_date": "20240710", "end_date": "20240711", "offset": 100, "limit": 200}),
    ("adj_factor", {"trade_date": "20240701"}),
    ("adj_factor", {"ts_code": "{batch_stocks}", "start_date": "20240701", "end_date": "20240705"}),
    ("daily_basic", {"trade_date": "20240712"}),
    (
        "daily_basic",
        {
            "ts_code": "{batch_stock}",
            "end_date": END,
            "start_date": START,
            "fields": "ts_code,trade_date,pe,pe_ttm,total_mv",
        },
    ),
    ("suspend_d", {"start_date": START, "end_date": END}),
    ("suspend_d", {"trade_date": "20240703", "suspend_type": "S"}),
    ("stk_limit", {"trade_date": "20240705"}),
    ("stk_limit", {"ts_code": "{batch_stocks}", "start_date": START, "fields": "ts_code,trade_date,pre_close"}),
    ("income", {"ts_code": "{batch_stock}"}),
    ("income", {"ts_code": "{young_stock}", "start_date": "20200101", "end_date": "20231231"}),
    ("income", {"ts_code": "{batch_stock}", "period": "20221231", "fields": "ts_code,ann_date,n_income,update_flag"}),
    ("income", {"ts_code": "{batch_stocks}"}),
    ("balancesheet", {"ts_code": "{batch_stock}"}),
    ("balancesheet", {"ts_code": "{young_stock}", "report_type": "1", "fields": "end_date,total_assets,lease_liab"}),
    ("cashflow", {"ts_code": "{batch_stock}", "start_date": "20150101"}),
    ("fina_indicator", {"ts_code": "{batch_stock}"}),
    (
        "fina_indicator",
        {"ts_code": "{young_stock}", "start_date": "20220101", "fields": "ts_code,end_date,update_flag"},
    ),
    ("fina_indicator", {"ts_code": "{batch_stocks}", "period": "20231231"}),
    ("disclosure_date", {"end_date": "{period}"}),
    ("disclosure_date", {"end_date": "{period}", "ts_code": "{batch_stocks}", "fields": "ts_code,modify_date"}),
    ("namechange", {"ts_code": "{renamed}"}),
    ("namechange", {"start_date": "20100101", "end_date": "20151231"}),
    ("dividend", {"ts_code": "{batch_stock}"}),
    ("dividend", {"ts_code": "{batch_stocks}", "fields": "ts_code,ex_date,cash_div,div_proc,base_share"}),
    ("index_basic", {}),
    ("index_basic", {"market": "SW", "fields": "ts_code,name,base_date,base_point,weight_rule"}),
    ("index_daily", {"ts_code": INDEX}),
    ("index_daily", {"ts_code": INDEX, "start_date": "20240101", "end_date": "20240630"}),
    ("index_weight", {"index_code": INDEX, "start_date": "20240101", "end_date": "20240712"}),
    ("index_weight", {"index_code": INDEX, "trade_date": "20240701"}),
    ("index_classify", {"src": "SW2021"}),
    ("index_classify", {"src": "SW2021", "level": "L1", "fields": "index_code,industry_name,src"}),
    ("index_member_all", {}),
    ("index_member_all", {"is_new": "N"}),
    ("index_member_all", {"l1_code": "{l1_code}", "fields": "ts_code,name,l3_name,in_date,out_date"}),
]


def _filled(params: dict, facts: dict[str, str]) -> dict:
    return {name: value.format(**facts) if isinstance(value, str) else value for name, value in params.items()}


@pytest.mark.parametrize(("api_name", "params"), CALLS, ids=[f"{api}-{n}" for n, (api, _) in enumerate(CALLS)])
def test_pro_api_answers_the_same_frame_as_the_official_client(official, pro, facts, api_name, params):
    params = _filled(params, facts)

    expected = official.query(api_name, **params)
    answered = pro.query(api_name, **params)

    # An HTTP error would be an empty frame; several codes make income answer nothing (as the service does).
    assert len(expected) or (api_name == "income" and "," in params["ts_code"])
    if api_name in ("income", "balancesheet", "cashflow", "fina_indicator"):
        # The service sends some report versions twice, byte for byte; the warehouse holds each version once.
        expected = expected.drop_duplicates(ignore_index=True)
    assert_frame_equal(answered, expected)
    assert_frame_equal(getattr(pro, api_name)(**params), expected)


def test_the_calls_cover_every_dataset_in_the_warehouse():
    assert {api for api, _ in CALLS} == {dataset.api_name for dataset in ALL_DATASETS}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda pro: pro.query("daily_vip", trade_date="20240708"), "请指定正确的接口名"),
        (lambda pro: pro.daily(trade_day="20240708"), "has no parameter 'trade_day'"),
        (lambda pro: pro.daily(trade_date="20240708", fields="ts_code,closing"), "不包含字段closing"),
        (lambda pro: pro.daily(trade_date="20240708", fields="ts_code,ah_vol"), "not stored"),
        (lambda pro: pro.daily(trade_date="2024-07-08"), "YYYYMMDD"),
        (lambda pro: pro.daily_basic(start_date="20240701"), "ts_code or trade_date required"),
        (lambda pro: pro.income(period="20231231"), "ts_code required"),
        (lambda pro: pro.index_classify(level="L1"), "src=SW2014 is not synced"),
        (lambda pro: pro.daily(ts_code=["000001.SZ"]), "should be a string"),
    ],
)
def test_calls_the_warehouse_cannot_answer_as_tushare_are_clear_errors(pro, call, message):
    with pytest.raises(ProApiError, match=message):
        call(pro)


def test_a_missing_sqlite_warehouse_is_an_error_and_is_not_created(tmp_path):
    path = tmp_path / "nowhere.db"
    with pytest.raises(ProApiError, match="no warehouse"):
        pro_api(f"sqlite:///{path}")
    assert not path.exists()


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_warehouse_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'warehouse.db'}"
    return request.getfixturevalue("postgres_url")


def test_a_statement_changed_after_it_was_stored_is_answered_as_the_service_answers_it_now(fresh_warehouse_url):
    """A warehouse that stored a latest statement (type 1) before the company changed it holds that version
    too; the service now answers the changed numbers as type 1 and the old ones as type 5, and so does pro_api."""
    config = ServerConfig(
        tokens={TEST_TOKEN: 5000},
        n_stocks=300,
        now="2023-07-12T18:00:00+08:00",
        rate_limit_default=0,
        row_caps=STATEMENT_CAPS,
        restatements=True,
    )
    income = next(asset for asset in statement_assets if asset.key.path == ["income"])
    with ServerProcess(config) as server:
        resources = make_resources(server, fresh_warehouse_url) | {"sync_policy": SyncPolicyResource()}
        assert dg.materialize([stock_basic], resources=resources).success
        assert dg.materialize([income], resources=resources, partition_key=BATCH).success
        server.configure(now=SERVER_NOW)  # a year later: some of those reports have been restated since
        assert dg.materialize([income], resources=resources, partition_key=BATCH).success
        official = tushare.pro_api(server.token)
        official._DataApi__http_url = server.url
        engine = sa.create_engine(fresh_warehouse_url)
        with engine.connect() as conn:
            restated = conn.execute(
                sa.text("SELECT DISTINCT ts_code FROM income WHERE report_type = '5' ORDER BY 1")
            ).scalars()
            stocks = list(restated)
            stored_latest = dict(
                conn.execute(sa.text("SELECT ts_code, COUNT(*) FROM income WHERE report_type = '1' GROUP BY 1")).all()
            )
        engine.dispose()
        assert stocks, "no report of the batch was restated between the two syncs"
        pro = pro_api(fresh_warehouse_url)
        for code in stocks:
            for params in ({"ts_code": code}, {"ts_code": code, "report_type": "5"}):
                expected = official.income(**params).drop_duplicates(ignore_index=True)
                assert_frame_equal(pro.income(**params), expected)
        # The superseded type-1 versions are held, and not answered.
        assert sum(stored_latest[code] for code in stocks) > sum(len(pro.income(ts_code=code)) for code in stocks)


def _factor_steps(official) -> tuple[str, str]:
    """A stock whose adj_factor steps inside the synced days (an ex-dividend day), and one whose does not."""
    factors = official.adj_factor(start_date=START, end_date=END)
    distinct = factors.groupby("ts_code")["adj_factor"].nunique()
    traded = set(official.daily(start_date=START, end_date=END)["ts_code"])
    stepped = sorted(code for code in distinct[distinct > 1].index if code in traded)
    flat = sorted(code for code in distinct[distinct == 1].index if code in traded)
    assert stepped and flat
    return stepped[0], flat[0]


@pytest.mark.parametrize("adj", [None, "qfq", "hfq"])
def test_pro_bar_equals_the_sdks_for_stocks_with_and_without_an_ex_dividend_step(official, warehouse_url, adj):
    for code in _factor_steps(official):
        for options in ({}, {"ma": [5, 10], "adjfactor": adj is not None}, {"factors": ["tor", "vr"]}):
            expected = tushare.pro_bar(code, api=official, start_date=START, end_date=END, adj=adj, **options)
            answered = pro_bar(code, start_date=START, end_date=END, adj=adj, db_url=warehouse_url, **options)
            assert len(expected) >= 10
            assert_frame_equal(answered, expected)


def test_pro_bar_qfq_is_anchored_at_the_newest_factor_of_the_window(official, warehouse_url):
    stepped, _ = _factor_steps(official)
    factors = official.adj_factor(ts_code=stepped, start_date=START, end_date=END)
    bars = official.daily(ts_code=stepped, start_date=START, end_date=END).merge(factors, on=["ts_code", "trade_date"])

    qfq = pro_bar(stepped, start_date=START, end_date=END, adj="qfq", db_url=warehouse_url)

    # Independent of the SDK: the newest bar is unadjusted, older ones scaled by factor / newest factor.
    newest = factors["adj_factor"].iloc[0]
    expected = (bars["close"] * bars["adj_factor"] / newest).round(2)
    assert qfq["close"].tolist() == pytest.approx(expected.tolist(), abs=0.006)


def test_pro_bar_refuses_what_the_warehouse_does_not_hold(warehouse_url):
    with pytest.raises(ValueError, match="asset='E', freq='D'"):
        pro_bar("000300.SH", asset="I", db_url=warehouse_url)
    with pytest.raises(ValueError, match="asset='E', freq='D'"):
        pro_bar("000001.SZ", freq="W", db_url=warehouse_url)


def test_the_daily_hfq_view_holds_hfq_prices_and_dates(official, warehouse_url):
    stepped, _ = _factor_steps(official)
    factors = official.adj_factor(ts_code=stepped, start_date=START, end_date=END)
    bars = official.daily(ts_code=stepped, start_date=START, end_date=END).merge(factors, on=["ts_code", "trade_date"])
    engine = sa.create_engine(warehouse_url)
    view = sa.Table("daily_hfq", sa.MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(view).where(view.c.ts_code == stepped).order_by(view.c.trade_date.desc())).all()
    engine.dispose()

    assert [column.name for column in view.columns] == [
        "ts_code",
        "trade_date",
        "open",
        "high",
        "low",
        "close",
        "pre_close",
        "adj_factor",
    ]
    assert [row.trade_date for row in rows] == [date(int(d[:4]), int(d[4:6]), int(d[6:])) for d in bars["trade_date"]]
    for price in ("open", "high", "low", "close", "pre_close"):
        assert [getattr(row, price) for row in rows] == pytest.approx((bars[price] * bars["adj_factor"]).tolist())
    assert [row.adj_factor for row in rows] == bars["adj_factor"].tolist()
