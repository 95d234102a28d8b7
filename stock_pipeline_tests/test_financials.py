"""Financial statements by stock batch: versions, point-in-time reads, failure ledger, sensors, VIP."""

from collections import Counter
from datetime import date, timedelta

import dagster as dg
import pytest
import sqlalchemy as sa

from stock_pipeline.datasets import FINA_INDICATOR, INCOME
from stock_pipeline.defs.financials.assets import disclosure_date, statement_assets
from stock_pipeline.defs.financials.partitions import batch_of
from stock_pipeline.defs.financials.sensors import statement_disclosure_sensor, statement_retry_sensor
from stock_pipeline.resources import SyncPolicyResource
from stock_pipeline.statements import as_of
from stock_pipeline.warehouse import TABLES, Warehouse
from stock_pipeline_tests.conftest import failure_message, make_resources, materialize_reference, server_items

INCOME_ASSET = next(asset for asset in statement_assets if asset.key.path == ["income"])
FINA_ASSET = next(asset for asset in statement_assets if asset.key.path == ["fina_indicator"])


def _resources(server, warehouse_url, *, policy=None, **tushare):
    return make_resources(server, warehouse_url, **tushare) | {"sync_policy": policy or SyncPolicyResource()}


def _batch_stocks(warehouse_url: str, batch: str) -> list[str]:
    store = Warehouse(warehouse_url)
    codes = [code for code in store.stock_codes() if batch_of(code) == batch]
    store.dispose()
    return codes


def _stored(warehouse_url: str, table_name: str, columns: tuple[str, ...]) -> list[tuple]:
    engine = sa.create_engine(warehouse_url)
    table = TABLES[table_name]
    with engine.connect() as conn:
        rows = [tuple(row) for row in conn.execute(sa.select(*[table.c[name] for name in columns]))]
    engine.dispose()
    return rows


def _as_tushare(row: tuple) -> tuple:
    return tuple(value.strftime("%Y%m%d") if isinstance(value, date) else value for value in row)


def _config(api_names, **config) -> dict:
    return {"ops": {name: {"config": config} for name in api_names}}


def test_every_distinct_version_is_kept_once_and_read_as_latest_or_as_of(server, warehouse_url):
    resources = _resources(server, warehouse_url)
    assert materialize_reference(resources).success

    result = dg.materialize([INCOME_ASSET], resources=resources, partition_key="batch_05")

    assert result.success
    stocks = _batch_stocks(warehouse_url, "batch_05")
    served = [
        tuple(item)
        for code in stocks
        for item in server_items(server, "income", {"ts_code": code, "start_date": "20000101"}, INCOME.fields)
    ]
    stored = [_as_tushare(row) for row in _stored(warehouse_url, "income", INCOME.fields)]
    assert len(served) > len(set(served))  # the server sends byte-identical duplicates...
    assert Counter(stored) == Counter(set(served))  # ...stored once; every distinct version kept
    # One call per stock and report type: the latest statements (1) and originals of changed ones (5).
    assert result.asset_materializations_for_node("income")[0].metadata["api_calls"].value == 2 * len(stocks)

    versions = Counter((row[0], row[3], row[4]) for row in set(served))
    code, end_date, _ = next(key for key, count in versions.items() if count > 1)
    original, revision = sorted(
        (row for row in set(served) if (row[0], row[3]) == (code, end_date)), key=lambda row: row[1]
    )
    assert (original[-1], revision[-1]) == ("0", "1")

    engine = sa.create_engine(warehouse_url)
    with engine.connect() as conn:
        latest = conn.execute(
            sa.text("SELECT ann_date, update_flag FROM income_latest WHERE ts_code = :c AND end_date = :e"),
            {"c": code, "e": date.fromisoformat(f"{end_date[:4]}-{end_date[4:6]}-{end_date[6:]}")},
        ).all()
        # Raw SQL on SQLite returns dates as ISO text; normalise both backends to Tushare's spelling.
        assert [(str(day).replace("-", ""), flag) for day, flag in latest] == [(revision[1], "1")]

        def known_on(day: date) -> list[tuple]:
            rows = conn.execute(as_of(INCOME, day)).mappings().all()
            assert all(row["known_from"] <= day for row in rows)  # never a version public later
            return [
                (row["ann_date"].strftime("%Y%m%d"), row["update_flag"])
                for row in rows
                if row["ts_code"] == code and row["end_date"].strftime("%Y%m%d") == end_date
            ]

        announced, revised = (date.fromisoformat(f"{d[:4]}-{d[4:6]}-{d[6:]}") for d in (original[1], revision[1]))
        assert known_on(announced - timedelta(days=1)) == []
        assert known_on(announced) == [(original[1], "0")]
        assert known_on(revised) == [(revision[1], "1")]
    engine.dispose()


def test_a_failing_stock_is_isolated_retried_and_given_up_then_resolved(server, warehouse_url):
    # One stock of a dozen may fail without failing the run (the default tolerates 5 %).
    policy = SyncPolicyResource(max_retries_per_stock=2, retry_backoff_seconds=0, max_failed_share=0.1)
    resources = _resources(server, warehouse_url, policy=policy, max_attempts=2)
    assert materialize_reference(resources).success
    stocks = _batch_stocks(warehouse_url, "batch_07")
    bad = stocks[1]
    server.configure(failing_stocks={bad: "server_busy"})

    first = dg.materialize([INCOME_ASSET], resources=resources, partition_key="batch_07")

    assert first.success
    written = {row[0] for row in _stored(warehouse_url, "income", ("ts_code",))}
    assert bad not in written and set(stocks) - {bad} <= written
    [check] = [check for check in first.get_asset_check_evaluations() if check.check_name == "unresolved_failures"]
    assert check.passed is False and check.severity == dg.AssetCheckSeverity.WARN
    assert bad in check.metadata["stocks"].value
    store = Warehouse(warehouse_url)
    [failure] = store.failures()
    assert (failure["ts_code"], failure["attempts"], failure["status"]) == (bad, 1, "failing")

    calls_per_attempt = []
    for attempt in (2, 3):
        with dg.instance_for_test() as instance:
            context = dg.build_sensor_context(instance=instance, resources=resources)
            [request] = statement_retry_sensor(context)
        assert request.partition_key == "batch_07"
        assert request.run_config["ops"]["income"]["config"]["stocks"] == [bad]
        before = server.stats()["calls"].get("income", 0) + server.stats()["faults"].get("stock_server_busy", 0)
        retry = dg.materialize(
            [INCOME_ASSET],
            resources=resources,
            partition_key="batch_07",
            run_config=request.run_config,
            raise_on_error=False,
        )
        # A retry run whose one stock failed again stored nothing useful: a failed run, never a green one.
        assert not retry.success and "1 of 1 stocks failed" in failure_message(retry)
        after = server.stats()["calls"].get("income", 0) + server.stats()["faults"].get("stock_server_busy", 0)
        calls_per_attempt.append(after - before)
        [failure] = store.failures()
        assert failure["attempts"] == attempt
    assert failure["status"] == "given_up"
    assert calls_per_attempt == [2, 2]  # only the failed stock, with the client's two attempts each
    with dg.instance_for_test() as instance:
        skipped = statement_retry_sensor(dg.build_sensor_context(instance=instance, resources=resources))
    assert isinstance(skipped, dg.SkipReason)

    server.configure(failing_stocks={})
    healed = dg.materialize([INCOME_ASSET], resources=resources, partition_key="batch_07")
    assert healed.success
    assert store.failures() == []
    [resolved] = store.failures(statuses=("resolved",))
    assert resolved["ts_code"] == bad and resolved["resolved_at"] is not None
    assert all(check.passed for check in healed.get_asset_check_evaluations())
    store.dispose()


def test_a_bad_token_stops_the_batch_at_once_without_failure_rows(server, warehouse_url):
    assert materialize_reference(_resources(server, warehouse_url)).success
    resources = _resources(server, warehouse_url, token="revoked-token")

    result = dg.materialize([INCOME_ASSET], resources=resources, partition_key="batch_07", raise_on_error=False)

    assert not result.success
    assert "您的token不对，请确认。" in failure_message(result)
    assert server.stats()["rejected"]["bad_token"] == 1
    store = Warehouse(warehouse_url)
    assert store.failures() == []
    store.dispose()


def test_fina_indicator_pages_past_its_100_row_cap(server, warehouse_url):
    resources = _resources(server, warehouse_url)
    assert materialize_reference(resources).success
    store = Warehouse(warehouse_url)
    per_stock = {
        code: len(server_items(server, "fina_indicator", {"ts_code": code, "start_date": "20000101"}, ("ts_code",)))
        for code in store.stock_codes()
    }
    store.dispose()
    longest = max(per_stock, key=per_stock.get)
    assert per_stock[longest] > 100  # one stock's history alone exceeds the cap
    batch = batch_of(longest)

    result = dg.materialize([FINA_ASSET], resources=resources, partition_key=batch)

    assert result.success
    metadata = result.asset_materializations_for_node("fina_indicator")[0].metadata
    # Split by report-period windows as document 79 asks, never by deep offsets: more calls than stocks,
    # no offset pages.
    assert metadata["api_calls"].value > len(_batch_stocks(warehouse_url, batch))
    assert metadata["pages"].value == 0
    served = {
        tuple(item)
        for code in _batch_stocks(warehouse_url, batch)
        for item in server_items(
            server, "fina_indicator", {"ts_code": code, "start_date": "20000101"}, FINA_INDICATOR.fields
        )
    }
    assert metadata["rows_fetched"].value == len(served)  # distinct rows: the windows overlap by a period
    assert {_as_tushare(row) for row in _stored(warehouse_url, "fina_indicator", FINA_INDICATOR.fields)} == served


def test_the_disclosure_sensor_requests_only_new_disclosures_once(server, warehouse_url):
    resources = _resources(server, warehouse_url)
    assert materialize_reference(resources).success
    periods = {"ops": {"disclosure_date": {"config": {"periods": ["20231231", "20240331", "20240630"]}}}}
    assert dg.materialize([disclosure_date], resources=resources, run_config=periods).success

    with dg.instance_for_test() as instance:
        first = statement_disclosure_sensor(dg.build_sensor_context(instance=instance, resources=resources))
        again = statement_disclosure_sensor(
            dg.build_sensor_context(instance=instance, resources=resources, cursor=first.cursor)
        )
        assert again.run_requests == []

        server.configure(now="2024-08-05T23:30:00+08:00")  # the first half-year reports arrive
        assert dg.materialize([disclosure_date], resources=resources, run_config=periods).success
        later = statement_disclosure_sensor(
            dg.build_sensor_context(instance=instance, resources=resources, cursor=first.cursor)
        )

    first_codes = {code for r in first.run_requests for code in r.run_config["ops"]["income"]["config"]["stocks"]}
    new_codes = {code for r in later.run_requests for code in r.run_config["ops"]["income"]["config"]["stocks"]}
    disclosed: dict[str, date] = {}
    for code, _, actual in _stored(warehouse_url, "disclosure_date", ("ts_code", "end_date", "actual_date")):
        if actual:
            disclosed[code] = max(actual, disclosed.get(code, actual))
    assert new_codes and first_codes
    assert all(disclosed[code] > date(2024, 7, 12) for code in new_codes)
    assert all(
        request.partition_key == batch_of(code)
        for request in later.run_requests
        for code in request.run_config["ops"]["income"]["config"]["stocks"]
    )

    request = later.run_requests[0]
    chosen = request.run_config["ops"]["income"]["config"]["stocks"]
    before = server.stats()["calls"].get("income", 0)
    assert dg.materialize(
        [INCOME_ASSET],
        resources=resources,
        partition_key=request.partition_key,
        run_config={"ops": {"income": request.run_config["ops"]["income"]}},
    ).success
    # Cost follows disclosures: one call per disclosed stock and report type (1 and 5 by default).
    assert server.stats()["calls"]["income"] - before == 2 * len(chosen)


def test_the_vip_path_makes_one_call_per_period_and_report_type(server, warehouse_url):
    resources = _resources(server, warehouse_url)
    assert materialize_reference(resources).success
    config = _config(["income"], use_vip=True, vip_periods=["20231231", "20230930"])

    result = dg.materialize([INCOME_ASSET], resources=resources, partition_key="batch_04", run_config=config)

    assert result.success
    calls = server.stats()["calls"]
    assert calls["income_vip"] == 2 * 2 and "income" not in calls  # per period and report type (1, 5)
    stocks = set(_batch_stocks(warehouse_url, "batch_04"))
    served = {
        tuple(item)
        for period in ("20231231", "20230930")
        for item in server_items(server, "income_vip", {"period": period}, INCOME.fields)
        if item[0] in stocks
    }
    assert {_as_tushare(row) for row in _stored(warehouse_url, "income", INCOME.fields)} == served


@pytest.mark.parametrize("points", [2000])
def test_the_vip_path_needs_5000_points(server, warehouse_url, points):
    from tushare_double.app import ServerConfig
    from tushare_double.launcher import ServerProcess

    with ServerProcess(ServerConfig(tokens={"small-account": points}, n_stocks=60, rate_limit_default=0)) as small:
        resources = _resources(small, warehouse_url)
        assert materialize_reference(resources).success
        result = dg.materialize(
            [INCOME_ASSET],
            resources=resources,
            partition_key="batch_04",
            run_config=_config(["income"], use_vip=True, vip_periods=["20231231"]),
            raise_on_error=False,
        )
    assert not result.success
    assert "抱歉，您没有接口(income_vip)访问权限" in failure_message(result)


def test_the_finance_start_date_bounds_what_is_fetched(server, warehouse_url):
    policy = SyncPolicyResource(finance_start_date="2020-01-01")
    resources = _resources(server, warehouse_url, policy=policy)
    assert materialize_reference(resources).success

    assert dg.materialize([INCOME_ASSET], resources=resources, partition_key="batch_05").success

    served = {
        tuple(item)
        for code in _batch_stocks(warehouse_url, "batch_05")
        for item in server_items(server, "income", {"ts_code": code, "start_date": "20200101"}, INCOME.fields)
    }
    stored = {_as_tushare(row) for row in _stored(warehouse_url, "income", INCOME.fields)}
    assert stored == served
    assert min(row[1] for row in stored) >= "20200101"  # announced since the start date


def test_a_stock_delisted_before_the_start_date_costs_one_call(server, warehouse_url):
    policy = SyncPolicyResource(finance_start_date="2024-01-01")
    resources = _resources(server, warehouse_url, policy=policy)
    assert materialize_reference(resources).success
    store = Warehouse(warehouse_url)
    gone = sorted(store.delisted_before(date(2024, 1, 1)))
    store.dispose()
    batch = batch_of(gone[0])

    assert dg.materialize([INCOME_ASSET], resources=resources, partition_key=batch).success

    # Its empty answer is expected and believed; every other stock of the batch has statements. One call
    # per stock for each of the two default report types.
    assert server.stats()["calls"]["income"] == 2 * len(_batch_stocks(warehouse_url, batch))
    stored = {row[0] for row in _stored(warehouse_url, "income", ("ts_code",))}
    assert gone[0] not in stored
    assert stored == set(_batch_stocks(warehouse_url, batch)) - set(gone)


def test_a_disclosure_stays_pending_until_its_report_is_stored_then_goes_to_the_ledger(server, warehouse_url):
    policy = SyncPolicyResource(max_disclosure_requests=2, disclosure_backoff_seconds=0)
    resources = _resources(server, warehouse_url, policy=policy)
    assert materialize_reference(resources).success
    server.configure(now="2024-08-05T23:30:00+08:00")  # half-year reports are disclosed...
    periods = {"ops": {"disclosure_date": {"config": {"periods": ["20240630"]}}}}
    assert dg.materialize([disclosure_date], resources=resources, run_config=periods).success
    server.configure(now="2024-07-12T18:00:00+08:00")  # ...but the statement APIs do not serve them yet

    with dg.instance_for_test() as instance:

        def tick(cursor):
            return statement_disclosure_sensor(
                dg.build_sensor_context(instance=instance, resources=resources, cursor=cursor)
            )

        first = tick(None)
        assert first.run_requests
        request = first.run_requests[0]
        assert request.asset_selection == [dg.AssetKey(name) for name in sorted(request.run_config["ops"])]
        # The run finds nothing for the new period: the disclosure stays pending and is asked for again.
        assert dg.materialize(
            [INCOME_ASSET],
            resources=resources,
            partition_key=request.partition_key,
            run_config={"ops": {"income": request.run_config["ops"]["income"]}},
        ).success
        second = tick(first.cursor)
        assert {r.partition_key for r in second.run_requests} == {r.partition_key for r in first.run_requests}
        assert all(r.run_key not in {f.run_key for f in first.run_requests} for r in second.run_requests)

        # Once served and stored, that batch's disclosures are done; the others reach the limit.
        server.configure(now="2024-08-05T23:30:00+08:00")
        stocks = request.run_config["ops"]["income"]["config"]["stocks"]
        assert dg.materialize(
            statement_assets,
            resources=resources,
            partition_key=request.partition_key,
            run_config=_config([asset.key.path[0] for asset in statement_assets], stocks=stocks),
        ).success
        third = tick(second.cursor)
        assert third.run_requests == []
        assert tick(third.cursor).run_requests == []

    store = Warehouse(warehouse_url)
    failures = store.failures()
    store.dispose()
    others = {
        code
        for r in second.run_requests
        if r.partition_key != request.partition_key
        for code in r.run_config["ops"]["income"]["config"]["stocks"]
    }
    assert others and {row["ts_code"] for row in failures if row["dataset"] == "income"} == others
    assert all("no version of it was served after 2 requests" in row["error"] for row in failures)


def test_an_empty_answer_leaves_a_failing_stock_failing(server, warehouse_url):
    resources = _resources(server, warehouse_url)
    assert materialize_reference(resources).success
    stock = _batch_stocks(warehouse_url, "batch_07")[0]
    store = Warehouse(warehouse_url)
    store.record_failure(INCOME, stock, "batch_07", "server busy", max_retries=3)
    server.configure(failing_stocks={stock: "empty"})

    dg.materialize(
        [INCOME_ASSET],
        resources=resources,
        partition_key="batch_07",
        run_config=_config(["income"], stocks=[stock]),
        raise_on_error=False,
    )

    [failure] = store.failures()
    store.dispose()
    assert (failure["ts_code"], failure["status"]) == (stock, "failing")


def test_a_new_run_resumes_after_the_stocks_a_failed_run_stored_and_refreshes_after_a_successful_one(
    server, warehouse_url
):
    policy = SyncPolicyResource(max_failed_share=0.0)  # one failed stock fails the run
    resources = _resources(server, warehouse_url, policy=policy, max_attempts=1)
    assert materialize_reference(resources).success
    stocks = _batch_stocks(warehouse_url, "batch_07")
    server.configure(failing_stocks={stocks[1]: "server_busy"})

    def calls() -> int:
        return server.stats()["calls"].get("income", 0)

    with dg.instance_for_test() as instance:

        def run(**config):
            before = calls()
            result = dg.materialize(
                [INCOME_ASSET],
                resources=resources,
                partition_key="batch_07",
                instance=instance,
                run_config=_config(["income"], **config),
                raise_on_error=False,
            )
            return result, calls() - before

        failed, _ = run()
        assert not failed.success
        server.configure(failing_stocks={})
        resumed, resumed_calls = run()
        assert resumed.success
        assert resumed.asset_materializations_for_node("income")[0].metadata["stocks_resumed"].value == len(stocks) - 1
        refreshed, refresh_calls = run()  # after a successful run, asking again is a refresh: every stock
        assert refreshed.success and refresh_calls >= 2 * len(stocks)
        _, one_stock_calls = run(stocks=[stocks[1]])
    # The resuming run asked only for the stock the failed run did not store.
    assert resumed_calls == one_stock_calls < refresh_calls
