"""End to end on the PostgreSQL deployment: a real dagster-webserver and dagster-daemon, Dagster storage
in its own PostgreSQL database, backfills launched, followed, cancelled and resumed over GraphQL."""

import time
import uuid
from itertools import pairwise

import pytest
import sqlalchemy as sa

from stock_pipeline.datasets import TRADE_DATE_DATASETS
from stock_pipeline.defs.financials.partitions import batch_of
from stock_pipeline_tests.cli import REPO, dagster_home, materialize, project_env
from stock_pipeline_tests.conftest import TEST_TOKEN, server_items
from stock_pipeline_tests.deployment import (
    CANCEL,
    DAEMONS,
    LAUNCH_RUN,
    MARKET_ASSETS,
    REEXECUTE,
    REPOSITORY,
    START_SCHEDULE,
    STEPS,
    STOP_SCHEDULE,
    TERMINATE,
    Deployment,
)
from tushare_double.app import ServerConfig
from tushare_double.launcher import ServerProcess


@pytest.fixture(scope="module")
def deployment(postgres_admin_url, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("deployment")
    admin = sa.create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    names = [f"sp_dagster_{uuid.uuid4().hex[:8]}", f"sp_warehouse_{uuid.uuid4().hex[:8]}"]
    with admin.connect() as conn:
        for name in names:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    dagster_url, warehouse_url = (
        sa.engine.make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
        for name in names
    )
    home = dagster_home(tmp_path, REPO / "deploy" / "postgres" / "dagster.yaml")
    config = ServerConfig(
        tokens={TEST_TOKEN: 5000}, n_stocks=150, now="2024-07-12T18:00:00+08:00", rate_limit_default=0
    )
    with ServerProcess(config) as server:
        env = project_env(home, server.url, server.token, warehouse_url, DAGSTER_PG_URL=dagster_url)
        materialize(env, "--select", "trade_cal,stock_basic")
        running = Deployment(env, tmp_path)
        try:
            yield running, server, warehouse_url
        finally:
            running.stop()
    with admin.connect() as conn:
        for name in names:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


def _warehouse_matches_server(server, warehouse_url: str, days: list[str]) -> None:
    engine = sa.create_engine(warehouse_url)
    with engine.connect() as conn:
        for dataset in TRADE_DATE_DATASETS:
            stored = conn.execute(
                sa.text(f"SELECT ts_code, trade_date FROM {dataset.api_name} WHERE trade_date BETWEEN :a AND :b"),
                {"a": days[0], "b": days[-1]},
            ).all()
            assert len(stored) == len(set(stored))
            expected = {
                (item[0], item[1])
                for day in days
                for item in server_items(
                    server, dataset.api_name, {"trade_date": day.replace("-", "")}, ("ts_code", "trade_date")
                )
            }
            assert {(code, day.strftime("%Y%m%d")) for code, day in stored} == expected
    engine.dispose()


@pytest.mark.slow
def test_backfills_over_graphql_run_once_cancel_resume_and_never_overlap(deployment):
    dagster, server, warehouse_url = deployment
    finished = {"COMPLETED", "COMPLETED_SUCCESS", "FAILED", "COMPLETED_FAILED"}

    # Slow answers keep this backfill's run busy long enough to cancel it midway.
    server.configure(random_faults={"rate": 1.0, "kinds": ["slow"], "apis": MARKET_ASSETS}, slow_seconds=1.0)
    may = ("2024-05-13", "2024-05-31")
    cancelled_id = dagster.launch(*may)
    deadline = time.monotonic() + 120
    while not (started := [r for r in dagster.backfill(cancelled_id)["runs"] if r["status"] == "STARTED"]):
        assert time.monotonic() < deadline
        time.sleep(1)
    time.sleep(3)
    assert dagster.graphql(CANCEL, id=cancelled_id)["cancelPartitionBackfill"]["__typename"] == "CancelBackfillSuccess"
    # The daemon cancels the backfill's runs on its next loop; terminating the run now saves the wait.
    assert dagster.graphql(TERMINATE, id=started[0]["runId"])["terminateRun"]["__typename"] == "TerminateRunSuccess"
    assert dagster.wait(cancelled_id, {"CANCELED", *finished})["status"] == "CANCELED"
    written = {day for day in _open_days(server, *may) if _rows_on(warehouse_url, day)}
    assert len(written) < len(_open_days(server, *may))  # it really stopped midway

    server.configure(random_faults={})
    resumed = dagster.graphql(REEXECUTE, params={"parentRunId": cancelled_id, "strategy": "FROM_FAILURE"})
    assert resumed["reexecutePartitionBackfill"]["__typename"] == "LaunchBackfillSuccess", resumed
    done = dagster.wait(resumed["reexecutePartitionBackfill"]["backfillId"], finished)
    assert done["status"] in ("COMPLETED", "COMPLETED_SUCCESS")
    _warehouse_matches_server(server, warehouse_url, _open_days(server, *may))

    # Two overlapping backfills at once: one run each, and never two runs writing one dataset together.
    server.configure(random_faults={"rate": 1.0, "kinds": ["slow"], "apis": MARKET_ASSETS}, slow_seconds=0.1)
    both = [dagster.launch("2024-07-01", "2024-07-09"), dagster.launch("2024-07-04", "2024-07-12")]
    runs = []
    for backfill_id in both:
        state = dagster.wait(backfill_id, finished)
        assert state["status"] in ("COMPLETED", "COMPLETED_SUCCESS")
        assert len(state["runs"]) == 1  # a single-run backfill, not one run per date
        runs += [run["runId"] for run in state["runs"]]
    windows: dict[str, list[tuple[float, float]]] = {}
    for run_id in runs:
        for step in dagster.graphql(STEPS, id=run_id)["runOrError"]["stepStats"]:
            windows.setdefault(step["stepKey"], []).append((step["startTime"], step["endTime"]))
    for step_key, spans in windows.items():
        spans.sort()
        assert all(earlier[1] <= later[0] for earlier, later in pairwise(spans)), (step_key, spans)
    _warehouse_matches_server(server, warehouse_url, _open_days(server, "2024-07-01", "2024-07-12"))


def _rows_on(warehouse_url: str, day: str) -> int:
    engine = sa.create_engine(warehouse_url)
    with engine.connect() as conn:
        count = conn.execute(sa.text("SELECT count(*) FROM daily WHERE trade_date = :d"), {"d": day}).scalar()
    engine.dispose()
    return count


def _open_days(server, first: str, last: str) -> list[str]:
    items = server_items(
        server,
        "trade_cal",
        {"start_date": first.replace("-", ""), "end_date": last.replace("-", ""), "is_open": "1"},
        ("cal_date",),
    )
    return sorted(f"{d[0][:4]}-{d[0][4:6]}-{d[0][6:]}" for d in items)


@pytest.mark.slow
def test_scheduler_status_start_stop_and_a_parameterised_run_over_graphql(deployment):
    dagster, _, warehouse_url = deployment

    # 127.0.0.1 in /proc/net/tcp's little-endian hex, or ::1 in tcp6.
    assert dagster.listening_addresses() <= {"0100007F", "00000000000000000000000001000000"}
    assert dagster.listening_addresses()

    daemons = dagster.graphql(DAEMONS)["instance"]["daemonHealth"]["allDaemonStatuses"]
    required = {d["daemonType"]: d["healthy"] for d in daemons if d["required"]}
    assert all(required[name] for name in ("SCHEDULER", "SENSOR", "BACKFILL", "QUEUED_RUN_COORDINATOR"))

    started = dagster.graphql(START_SCHEDULE, selector=REPOSITORY | {"scheduleName": "daily_sync_schedule"})
    state = started["startSchedule"]["scheduleState"]
    assert state["status"] == "RUNNING"
    stopped = dagster.graphql(STOP_SCHEDULE, id=state["id"])["stopRunningSchedule"]["scheduleState"]
    assert stopped["status"] == "STOPPED"

    engine = sa.create_engine(warehouse_url)
    with engine.connect() as conn:
        code = conn.execute(sa.text("SELECT ts_code FROM stock_basic ORDER BY ts_code LIMIT 1")).scalar()
    params = {
        "selector": REPOSITORY | {"jobName": "financial_statements_job"},
        "runConfigData": {"ops": {"income": {"config": {"stocks": [code]}}}},
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": batch_of(code)}]},
        "stepKeys": ["income"],
    }
    launched = dagster.graphql(LAUNCH_RUN, params=params)["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    deadline = time.monotonic() + 180
    while (status := dagster.graphql(STEPS, id=run_id)["runOrError"]["status"]) not in ("SUCCESS", "FAILURE"):
        assert time.monotonic() < deadline
        time.sleep(2)
    assert status == "SUCCESS"
    with engine.connect() as conn:
        stocks = conn.execute(sa.text("SELECT DISTINCT ts_code FROM income")).scalars().all()
    engine.dispose()
    assert stocks == [code]
