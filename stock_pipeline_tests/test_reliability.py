"""Reliability: a fault soak ends equal to a clean sync; SIGKILLs at several points resume to the clean
result; bad input gets clear errors and writes nothing half-done; the token leaks nowhere."""

import json
import os
import signal
import socket
import subprocess
import time
from datetime import date

import dagster as dg
import pytest
import sqlalchemy as sa

from stock_pipeline.datasets import ALL_DATASETS, DAILY, FIRST_SEEN_AT, TRADE_DATE_DATASETS
from stock_pipeline.defs.financials.assets import statement_assets
from stock_pipeline.defs.market.assets import trade_date_assets
from stock_pipeline.resources import SyncPolicyResource, TushareResource, WarehouseResource
from stock_pipeline.tushare.client import TushareClient
from stock_pipeline.tushare.errors import TushareUnavailableError
from stock_pipeline.warehouse import Warehouse
from stock_pipeline_tests.cli import BIN, MATERIALIZE, REPO, dagster_home, materialize, project_env
from stock_pipeline_tests.conftest import (
    SERVER_NOW,
    TEST_TOKEN,
    failure_message,
    make_resources,
    materialize_reference,
    range_tags,
    server_items,
    table_rows,
)
from tushare_double.app import FAULT_KINDS, ServerConfig
from tushare_double.launcher import ServerProcess

MARKET = [dataset.api_name for dataset in TRADE_DATE_DATASETS]
SOAK_DAYS = int(os.environ.get("STOCK_PIPELINE_SOAK_DAYS", "60"))
SOAK_BATCHES = int(os.environ.get("STOCK_PIPELINE_SOAK_BATCHES", "2"))


def _open_days(server: ServerProcess, last: str, count: int) -> list[str]:
    items = server_items(server, "trade_cal", {"end_date": last.replace("-", ""), "is_open": "1"}, ("cal_date",))
    return sorted(f"{d[0][:4]}-{d[0][4:6]}-{d[0][6:]}" for d in items)[-count:]


def _sync_everything(resources, days: list[str], batches: list[str]) -> None:
    assert materialize_reference(resources).success
    assert dg.materialize(trade_date_assets, resources=resources, tags=range_tags(days[0], days[-1])).success
    assert dg.materialize(statement_assets, resources=resources, tags=range_tags(batches[0], batches[-1])).success


def _snapshot(url: str) -> dict[str, list[tuple]]:
    """Every table's rows, less when the warehouse first saw each version (two syncs differ there)."""
    snapshot = {}
    for dataset in ALL_DATASETS:
        rows = table_rows(url, dataset)
        if FIRST_SEEN_AT in dataset.stored_fields:
            position = dataset.stored_fields.index(FIRST_SEEN_AT)
            rows = [row[:position] + row[position + 1 :] for row in rows]
        snapshot[dataset.api_name] = rows
    return snapshot


def test_a_fault_soak_ends_row_for_row_equal_to_a_clean_sync(warehouse_url, tmp_path):
    clean_url = f"sqlite:///{tmp_path / 'clean.db'}"
    batches = [f"batch_{index:02d}" for index in range(SOAK_BATCHES)]
    config = {"tokens": {TEST_TOKEN: 5000}, "n_stocks": 80, "now": SERVER_NOW}
    faults = {
        "random_faults": {"rate": 0.25, "kinds": list(FAULT_KINDS), "seed": 7},
        "slow_seconds": 1.5,
        "rate_limit_default": 12,
        "rate_window_seconds": 2.0,
    }
    with (
        ServerProcess(ServerConfig(**config, rate_limit_default=0)) as clean,
        ServerProcess(ServerConfig(**config, **faults)) as faulty,
    ):
        days = _open_days(clean, "2024-07-12", SOAK_DAYS)
        _sync_everything(make_resources(clean, clean_url) | {"sync_policy": SyncPolicyResource()}, days, batches)

        policy = SyncPolicyResource(max_retries_per_stock=0)
        resources = make_resources(
            faulty,
            warehouse_url,
            timeout_seconds=1.0,
            max_attempts=10,
            calls_per_minute=10,
            rate_window_seconds=2.0,
            rate_limit_cooldown_seconds=2.2,
            step_retries=0,
        ) | {"sync_policy": policy}
        _sync_everything(resources, days, batches)
        stats = faulty.stats()

    expected, actual = _snapshot(clean_url), _snapshot(warehouse_url)
    differences = {name: len(set(expected[name]) ^ set(actual[name])) for name in expected}
    print(
        f"\nsoak: {SOAK_DAYS} dates, {SOAK_BATCHES} batches, faults injected {sum(stats['faults'].values())} "
        f"{stats['faults']}, rejected {stats['rejected']}, differences {differences}"
    )
    assert sum(stats["faults"].values()) > 50
    assert all(count == 0 for count in differences.values()), differences
    assert actual == expected
    store = Warehouse(warehouse_url)
    assert store.failures() == []
    store.dispose()


class Cli:
    """The real CLI in its own process group, so that it can be SIGKILLed whole."""

    def __init__(self, env: dict[str, str]):
        self.env = env

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [*MATERIALIZE, *args],
            cwd=REPO,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def run(self, *args: str) -> None:
        materialize(self.env, *args)

    def recover(self) -> None:
        subprocess.run(
            [str(BIN / "python"), "-m", "stock_pipeline.recover", "--all-in-progress"],
            cwd=REPO,
            env=self.env,
            check=True,
            capture_output=True,
        )


def _kill_when(process: subprocess.Popen, condition, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, "the run ended before the kill point"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _no_partial_dates(server, url: str, days: list[str]) -> set[str]:
    """Every date holds either nothing or exactly the server's rows; returns the complete ones."""
    complete = set()
    for dataset in TRADE_DATE_DATASETS:
        for day in days:
            stored = table_rows(url, dataset, date.fromisoformat(day))
            assert len(stored) == len(set(stored))
            if stored:
                expected = server_items(server, dataset.api_name, {"trade_date": day.replace("-", "")}, ("ts_code",))
                codes = sorted(row[dataset.fields.index("ts_code")] for row in stored)
                assert codes == sorted(item[0] for item in expected), (dataset.api_name, day)
                complete.add((dataset.api_name, day))
    return complete


@pytest.mark.slow
def test_sigkill_at_several_points_then_recover_and_resume_to_the_clean_result(server, postgres_url, tmp_path):
    home = dagster_home(tmp_path)
    cli = Cli(project_env(home, server.url, server.token, postgres_url))
    cli.run("--select", "trade_cal,stock_basic")
    days = _open_days(server, "2024-06-28", 18)
    market = ("--select", ",".join(MARKET), "--partition-range", f"{days[0]}...{days[-1]}")
    server.configure(random_faults={"rate": 1.0, "kinds": ["slow"], "apis": MARKET}, slow_seconds=0.25)
    engine = sa.create_engine(postgres_url)

    def calls(api: str) -> int:
        return server.stats()["calls"].get(api, 0)

    def synced(api: str) -> int:
        with engine.connect() as conn:
            return conn.execute(
                sa.text("SELECT count(*) FROM partition_sync_log WHERE dataset = :d"), {"d": api}
            ).scalar()

    # 1. During a fetch: the third call to daily is on its way.
    _kill_when(cli.start(*market), lambda: calls("daily") >= 3)
    _no_partial_dates(server, postgres_url, days)
    cli.recover()

    # 2. Mid-write: the run's transaction has deleted and copied a date's rows and waits on a lock
    #    this test holds on partition_sync_log, the last table that transaction writes.
    locker = engine.connect()
    locker.exec_driver_sql("BEGIN")
    locker.exec_driver_sql("LOCK TABLE partition_sync_log IN EXCLUSIVE MODE")

    def a_write_is_blocked() -> bool:
        with engine.connect() as conn:
            return (
                conn.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND query LIKE '%partition_sync_log%'"
                    )
                ).scalar()
                > 0
            )

    before = _no_partial_dates(server, postgres_url, days)
    _kill_when(cli.start(*market), a_write_is_blocked)
    locker.exec_driver_sql("ROLLBACK")
    locker.close()
    time.sleep(1)
    assert _no_partial_dates(server, postgres_url, days) == before  # the half-written date rolled back
    cli.recover()

    # 3. Between partitions: a few more dates committed, then the kill.
    committed = synced("daily")
    _kill_when(cli.start(*market), lambda: synced("daily") >= committed + 3)
    _no_partial_dates(server, postgres_url, days)

    # Resume as the README says: recover, then run the same command again.
    cli.recover()
    server.configure(random_faults={})
    cli.run(*market)

    assert _no_partial_dates(server, postgres_url, days) == {(api, day) for api in MARKET for day in days}
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        instance = dg.DagsterInstance.get()
        for api in MARKET:
            assert set(instance.get_materialized_partitions(dg.AssetKey(api))) == set(days)
    finally:
        del os.environ["DAGSTER_HOME"]
    engine.dispose()


# -- bad input -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_bad_cli_input_gets_clear_errors(server, tmp_path):
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    env = project_env(dagster_home(tmp_path), server.url, server.token, url)

    weekend = materialize(env, "--select", "daily", "--partition", "2024-07-06", succeed=False)
    assert "2024-07-06" in weekend and "partition" in weekend.lower()
    backwards = materialize(env, "--select", "daily", "--partition-range", "2024-07-05...2024-07-01", succeed=False)
    assert "The partition range 2024-07-05...2024-07-01 is empty: its start must not be after its end" in backwards

    without_token = {key: value for key, value in env.items() if key != "TUSHARE_TOKEN"}
    missing = materialize(without_token, "--select", "trade_cal", succeed=False)
    assert "TUSHARE_TOKEN" in missing
    # ...while the code location still loads, so the UI works and shows what is wrong.
    subprocess.run(
        [str(BIN / "dagster"), "definitions", "validate", "-m", "stock_pipeline"],
        cwd=REPO,
        env=without_token,
        check=True,
        capture_output=True,
    )
    assert not (tmp_path / "warehouse.db").exists() or Warehouse(url).count_rows(DAILY) == 0


@pytest.mark.parametrize(
    ("database", "message"),
    [
        ("not a database url", "Cannot parse database URL 'not a database url'"),
        ("mysql://user@127.0.0.1/db", "Unsupported database 'mysql'"),
        (
            "postgresql://postgres@127.0.0.1:1/none",
            "Cannot use the warehouse at postgresql://postgres@127.0.0.1:1/none",
        ),
    ],
)
def test_a_bad_database_url_fails_clearly(server, database, message):
    resources = make_resources(server, "sqlite://") | {"warehouse": WarehouseResource(url=database)}

    result = materialize_reference(resources, raise_on_error=False)

    assert not result.success
    assert message in failure_message(result)
    assert "STOCK_PIPELINE_DB_URL" in failure_message(result)


def test_an_unreachable_api_fails_clearly_and_writes_nothing(warehouse_url):
    resources = {
        "tushare": TushareResource(
            token=TEST_TOKEN,
            api_url="http://127.0.0.1:9/dataapi",
            max_attempts=2,
            backoff_seconds=0.01,
            step_retries=0,
            budget_db_url=warehouse_url,
        ),
        "warehouse": WarehouseResource(url=warehouse_url),
    }

    result = materialize_reference(resources, raise_on_error=False)

    assert not result.success
    assert "cannot reach http://127.0.0.1:9/dataapi" in failure_message(result)
    assert "TUSHARE_API_URL" in failure_message(result)
    assert Warehouse(warehouse_url).stock_codes() == []


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/dataapi"  # nothing listens there once the probe is closed


def test_a_server_that_is_not_there_fails_the_run_in_seconds_with_the_fix(tmp_path):
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    api_url = _closed_port_url()
    # The resource's defaults: 6 attempts with backoff and 2 step retries 120 s apart would take minutes.
    resources = {
        "tushare": TushareResource(token=TEST_TOKEN, api_url=api_url),
        "warehouse": WarehouseResource(url=url),
    }

    started = time.monotonic()
    result = materialize_reference(resources, raise_on_error=False)
    elapsed = time.monotonic() - started

    assert not result.success
    assert elapsed < 20, elapsed
    message = failure_message(result)
    assert f"cannot reach {api_url} (connection refused): set TUSHARE_API_URL" in message
    assert "or start the server" in message
    assert len(result.get_step_failure_events()) == 2  # trade_cal and stock_basic: one failure each
    assert not [event for event in result.all_events if event.event_type_value == "STEP_UP_FOR_RETRY"]


def test_a_server_gone_mid_run_is_still_retried_as_transient(server):
    client = TushareClient(server.token, server.url, max_attempts=3, backoff_seconds=0.01)
    assert client.query("trade_cal", {"exchange": "SSE", "start_date": "20240701", "end_date": "20240705"}).items
    server.stop()

    with pytest.raises(TushareUnavailableError, match="still failing after 3 attempts"):
        client.query("trade_cal", {"exchange": "SSE", "start_date": "20240708", "end_date": "20240712"})
    assert client.stats.retries["trade_cal"] == 2


def test_a_database_without_data_says_what_to_materialize_first(server, warehouse_url):
    resources = make_resources(server, warehouse_url) | {"sync_policy": SyncPolicyResource()}

    bars = dg.materialize(
        trade_date_assets[:1], resources=resources, tags=range_tags("2024-07-01", "2024-07-01"), raise_on_error=False
    )
    statements = dg.materialize(
        statement_assets[:1], resources=resources, partition_key="batch_01", raise_on_error=False
    )

    assert "materialize `trade_cal` first" in failure_message(bars)
    assert "stock_basic is empty: materialize it first" in failure_message(statements)


@pytest.mark.parametrize(
    ("server_changes", "message"),
    [
        # A dropped non-key field is stored as NULL and reported (test_faithfulness); a dropped key is fatal.
        ({"drop_fields": {"daily": ["trade_date"]}}, "answer lacks the field(s) ['trade_date'] needed to store it"),
        ({"faults": [{"api": "daily", "kind": "wrong_type", "times": 1}]}, "column `amount` should hold float values"),
    ],
)
def test_a_malformed_answer_fails_the_date_and_leaves_it_untouched(server, warehouse_url, server_changes, message):
    resources = make_resources(server, warehouse_url)
    assert materialize_reference(resources).success
    daily = next(asset for asset in trade_date_assets if asset.key.path == ["daily"])
    assert dg.materialize([daily], resources=resources, tags=range_tags("2024-07-05", "2024-07-05")).success
    before = table_rows(warehouse_url, DAILY)
    server.configure(**server_changes)

    result = dg.materialize(
        [daily], resources=resources, tags=range_tags("2024-07-05", "2024-07-05"), raise_on_error=False
    )

    assert not result.success
    assert message in failure_message(result)
    assert table_rows(warehouse_url, DAILY) == before


@pytest.mark.parametrize(
    ("stocks", "message"),
    [
        (["600000"], "['600000'] are not Tushare stock codes"),
        (["999999.SZ"], "unknown stock codes ['999999.SZ']"),
        (["000001.SZ'; DROP TABLE income; --"], "are not Tushare stock codes"),
    ],
)
def test_a_stock_code_the_api_does_not_know_is_refused(server, warehouse_url, stocks, message):
    resources = make_resources(server, warehouse_url) | {"sync_policy": SyncPolicyResource()}
    assert materialize_reference(resources).success
    income = statement_assets[0]

    result = dg.materialize(
        [income],
        resources=resources,
        partition_key="batch_01",
        raise_on_error=False,
        run_config={"ops": {"income": {"config": {"stocks": stocks}}}},
    )

    assert not result.success
    assert message in failure_message(result)
    assert server.stats()["calls"].get("income", 0) == 0


# -- secrets -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_token_appears_nowhere_after_a_sync(tmp_path):
    token = "f00dfeed" * 7  # 56 hex characters, like a real token
    config = ServerConfig(tokens={token: 5000}, n_stocks=60, now=SERVER_NOW, rate_limit_default=0)
    warehouse = tmp_path / "warehouse.db"
    with ServerProcess(config) as server:
        env = project_env(dagster_home(tmp_path), server.url, token, f"sqlite:///{warehouse}")
        # The DEBUG stream too: every event a run logs.
        verbose = ("--config-json", json.dumps({"loggers": {"console": {"config": {"log_level": "DEBUG"}}}}))
        outputs = [
            materialize(env, "--select", "trade_cal,stock_basic", *verbose),
            materialize(env, "--select", ",".join(MARKET), "--partition-range", "2024-07-01...2024-07-05", *verbose),
            materialize(env, "--select", "income", "--partition", "batch_03", *verbose),
            materialize(env | {"TUSHARE_TOKEN": token[::-1]}, "--select", "trade_cal", *verbose, succeed=False),
        ]
        assert " - DEBUG - " in outputs[1]

    assert Warehouse(f"sqlite:///{warehouse}").count_rows(DAILY) > 0
    assert not any(token in output or token[::-1] in output for output in outputs)  # logs
    stored = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert any(path.suffix == ".db" for path in stored)
    for path in stored:  # run storage, event logs, schedules, compute logs, the warehouse
        content = path.read_bytes()
        assert token.encode() not in content and token[::-1].encode() not in content, path


@pytest.mark.slow
def test_a_run_after_a_sigkill_fetches_only_the_dates_not_yet_committed(server, tmp_path):
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    home = dagster_home(tmp_path)
    cli = Cli(project_env(home, server.url, server.token, url))
    cli.run("--select", "trade_cal,stock_basic")
    days = _open_days(server, "2024-06-28", 30)
    market = ("--select", ",".join(MARKET), "--partition-range", f"{days[0]}...{days[-1]}")
    server.configure(random_faults={"rate": 1.0, "kinds": ["slow"], "apis": MARKET}, slow_seconds=0.15)
    engine = sa.create_engine(url)

    def committed() -> dict[str, set[str]]:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT dataset, partition_key FROM partition_sync_log")).all()
        return {api: {key for dataset, key in rows if dataset == api} for api in MARKET}

    def calls() -> dict[str, int]:
        return {api: server.stats()["calls"].get(api, 0) for api in MARKET}

    _kill_when(cli.start(*market), lambda: len(committed()["daily"]) >= len(days) * 2 // 3)
    done = committed()
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        instance = dg.DagsterInstance.get()
        for api in MARKET:
            # Dagster shows what the warehouse holds: each date was marked as it committed (the kill may
            # fall between a commit and its event).
            shown = set(instance.get_materialized_partitions(dg.AssetKey(api)))
            assert shown <= done[api] and len(done[api] - shown) <= 1

        cli.recover()
        server.configure(random_faults={})
        before = calls()
        cli.run(*market)
        resumed = calls()
        left = {api: len(days) - len(done[api]) for api in MARKET}
        assert {api: resumed[api] - before[api] for api in MARKET} == left  # calls made = dates not committed
        for api in MARKET:
            assert set(instance.get_materialized_partitions(dg.AssetKey(api))) == set(days)

        # The resuming run succeeded, so asking for the dates again is a refresh: every date is fetched.
        cli.run(*market)
        assert {api: calls()[api] - resumed[api] for api in MARKET} == dict.fromkeys(MARKET, len(days))
    finally:
        del os.environ["DAGSTER_HOME"]
    assert _no_partial_dates(server, url, days) == {(api, day) for api in MARKET for day in days}
    engine.dispose()


def test_a_vip_run_after_a_failed_one_fetches_only_the_periods_not_yet_stored(server, tmp_path):
    url, clean_url = f"sqlite:///{tmp_path / 'warehouse.db'}", f"sqlite:///{tmp_path / 'clean.db'}"
    periods = ["20230331", "20230630", "20230930", "20231231"]
    income = statement_assets[0]
    run_config = {"ops": {"income": {"config": {"use_vip": True, "vip_periods": periods}}}}

    def calls() -> int:
        return server.stats()["calls"].get("income_vip", 0)

    def run(resources, instance) -> tuple[dg.ExecuteInProcessResult, int]:
        before = calls()
        result = dg.materialize(
            [income],
            resources=resources | {"sync_policy": SyncPolicyResource()},
            partition_key="batch_07",
            instance=instance,
            run_config=run_config,
            raise_on_error=False,
        )
        return result, calls() - before

    with dg.instance_for_test() as instance:
        clean = make_resources(server, clean_url)
        assert materialize_reference(clean).success
        assert run(clean, instance)[0].success
        resources = make_resources(server, url)
        assert materialize_reference(resources).success
        # A day's quota of 4 calls: two periods (two report types each) are stored, the third fails the run.
        # Its quota block goes to a budget of its own, so that the next run is not blocked.
        server.configure(daily_quotas={"income_vip": 4})
        failing = make_resources(server, url, budget_db_url=f"sqlite:///{tmp_path / 'budget.db'}")
        failed, failed_calls = run(failing, instance)
        assert not failed.success and failed_calls == 4
        server.configure(daily_quotas={})

        resumed, resumed_calls = run(resources, instance)
        refreshed, refresh_calls = run(resources, instance)  # after a successful run: a refresh

    assert resumed.success and refreshed.success
    assert resumed_calls == 4  # the two periods left, two report types each
    assert resumed.asset_materializations_for_node("income")[0].metadata["periods_resumed"].value == 2
    assert refresh_calls == 8
    assert _snapshot(url)["income"] == _snapshot(clean_url)["income"]
