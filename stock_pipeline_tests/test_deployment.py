"""End to end on the PostgreSQL deployment: a real dagster-webserver and dagster-daemon, Dagster storage
in its own PostgreSQL database, backfills launched, followed, cancelled and resumed over GraphQL."""

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from itertools import pairwise
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from stock_pipeline.datasets import TRADE_DATE_DATASETS
from stock_pipeline.tushare_server.app import ServerConfig
from stock_pipeline.tushare_server.launcher import ServerProcess
from stock_pipeline_tests.conftest import TEST_TOKEN, server_items

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MARKET_ASSETS = [dataset.api_name for dataset in TRADE_DATE_DATASETS]

LAUNCH = """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
STATUS = """query($id: String!) { partitionBackfillOrError(backfillId: $id) { __typename
  ... on PartitionBackfill { status numPartitions runs(limit: 20) { runId status } }
  ... on PythonError { message } } }"""
CANCEL = """mutation($id: String!) { cancelPartitionBackfill(backfillId: $id) { __typename
  ... on PythonError { message } } }"""
REEXECUTE = """mutation($params: ReexecutionParams!) { reexecutePartitionBackfill(reexecutionParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
STEPS = """query($id: ID!) { runOrError(runId: $id) { ... on Run { status
  stepStats { stepKey startTime endTime status } } } }"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Deployment:
    def __init__(self, env: dict[str, str], logs: Path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/graphql"
        commands = {
            "daemon": [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"],
            "webserver": [
                str(BIN / "dagster-webserver"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-w",
                "workspace.yaml",
            ],
        }
        self.processes = []
        for name, command in commands.items():
            with open(logs / f"{name}.log", "w") as log:
                self.processes.append(
                    subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
                )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/server_info", timeout=2).ok:
                    return
            except requests.ConnectionError:
                time.sleep(1)
        raise RuntimeError((logs / "webserver.log").read_text()[-3000:])

    def graphql(self, query: str, **variables) -> dict:
        answer = requests.post(self.url, json={"query": query, "variables": variables}, timeout=60).json()
        assert "errors" not in answer, answer
        return answer["data"]

    def launch(self, first: str, last: str) -> str:
        selectors = [
            {"assetKey": {"path": [name]}, "partitions": {"range": {"start": first, "end": last}}}
            for name in MARKET_ASSETS
        ]
        result = self.graphql(LAUNCH, params={"partitionsByAssets": selectors})["launchPartitionBackfill"]
        assert result["__typename"] == "LaunchBackfillSuccess", result
        return result["backfillId"]

    def backfill(self, backfill_id: str) -> dict:
        return self.graphql(STATUS, id=backfill_id)["partitionBackfillOrError"]

    def wait(self, backfill_id: str, statuses: set[str], timeout: float = 300) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.backfill(backfill_id)
            if state["status"] in statuses:
                return state
            time.sleep(2)
        raise AssertionError(f"backfill {backfill_id} still {state['status']} after {timeout}s")

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def deployment(postgres_admin_url, tmp_path):
    admin = sa.create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    names = [f"sp_dagster_{uuid.uuid4().hex[:8]}", f"sp_warehouse_{uuid.uuid4().hex[:8]}"]
    with admin.connect() as conn:
        for name in names:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    dagster_url, warehouse_url = (
        sa.engine.make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
        for name in names
    )
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "postgres" / "dagster.yaml", home / "dagster.yaml")
    config = ServerConfig(
        tokens={TEST_TOKEN: 5000}, n_stocks=150, now="2024-07-12T18:00:00+08:00", rate_limit_default=0
    )
    with ServerProcess(config) as server:
        env = os.environ | {
            "DAGSTER_HOME": str(home),
            "DAGSTER_PG_URL": dagster_url,
            "STOCK_PIPELINE_DB_URL": warehouse_url,
            "TUSHARE_TOKEN": server.token,
            "TUSHARE_API_URL": server.url,
            "STOCK_PIPELINE_START_DATE": "2024-01-02",
        }
        subprocess.run(
            [str(BIN / "dagster"), "asset", "materialize", "-m", "stock_pipeline", "--select", "trade_cal,stock_basic"],
            cwd=REPO,
            env=env,
            check=True,
            capture_output=True,
        )
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
    june = ("2024-06-17", "2024-06-28")

    first = dagster.launch(*june)
    done = dagster.wait(first, {"COMPLETED", "COMPLETED_SUCCESS", "FAILED", "COMPLETED_FAILED"})
    assert done["status"] in ("COMPLETED", "COMPLETED_SUCCESS")
    assert len(done["runs"]) == 1  # a single-run backfill, not one run per date
    june_days = [day for day in _open_days(server, *june)]
    _warehouse_matches_server(server, warehouse_url, june_days)

    # Slow answers make the next backfill long enough to cancel midway.
    server.configure(random_faults={"rate": 1.0, "kinds": ["slow"], "apis": MARKET_ASSETS}, slow_seconds=0.6)
    may = ("2024-05-13", "2024-05-31")
    second = dagster.launch(*may)
    deadline = time.monotonic() + 120
    while not any(run["status"] == "STARTED" for run in dagster.backfill(second)["runs"]):
        assert time.monotonic() < deadline
        time.sleep(1)
    time.sleep(5)
    assert dagster.graphql(CANCEL, id=second)["cancelPartitionBackfill"]["__typename"] == "CancelBackfillSuccess"
    cancelled = dagster.wait(second, {"CANCELED", "COMPLETED_FAILED", "FAILED"})
    assert cancelled["status"] == "CANCELED"

    server.configure(random_faults={})
    resumed = dagster.graphql(REEXECUTE, params={"parentRunId": second, "strategy": "FROM_FAILURE"})
    resumed_id = resumed["reexecutePartitionBackfill"]["backfillId"]
    assert dagster.wait(resumed_id, {"COMPLETED", "COMPLETED_SUCCESS", "FAILED", "COMPLETED_FAILED"})["status"] in (
        "COMPLETED",
        "COMPLETED_SUCCESS",
    )
    _warehouse_matches_server(server, warehouse_url, _open_days(server, *may))

    # Two overlapping backfills at once: never two runs writing the same dataset at the same time.
    server.configure(random_faults={"rate": 1.0, "kinds": ["slow"], "apis": MARKET_ASSETS}, slow_seconds=0.1)
    both = [dagster.launch("2024-07-01", "2024-07-09"), dagster.launch("2024-07-04", "2024-07-12")]
    runs = []
    for backfill_id in both:
        state = dagster.wait(backfill_id, {"COMPLETED", "COMPLETED_SUCCESS", "FAILED", "COMPLETED_FAILED"})
        assert state["status"] in ("COMPLETED", "COMPLETED_SUCCESS")
        runs += [run["runId"] for run in state["runs"]]
    windows: dict[str, list[tuple[float, float]]] = {}
    for run_id in runs:
        for step in dagster.graphql(STEPS, id=run_id)["runOrError"]["stepStats"]:
            windows.setdefault(step["stepKey"], []).append((step["startTime"], step["endTime"]))
    for step_key, spans in windows.items():
        spans.sort()
        assert all(earlier[1] <= later[0] for earlier, later in pairwise(spans)), (step_key, spans)
    _warehouse_matches_server(server, warehouse_url, _open_days(server, "2024-07-01", "2024-07-12"))


def _open_days(server, first: str, last: str) -> list[str]:
    items = server_items(
        server,
        "trade_cal",
        {"start_date": first.replace("-", ""), "end_date": last.replace("-", ""), "is_open": "1"},
        ("cal_date",),
    )
    return sorted(f"{d[0][:4]}-{d[0][4:6]}-{d[0][6:]}" for d in items)
