"""A real Dagster deployment for tests and benchmarks: dagster-webserver and dagster-daemon processes
driven over GraphQL."""

import socket
import subprocess
import time
from pathlib import Path

import requests

from stock_pipeline.datasets import TRADE_DATE_DATASETS
from stock_pipeline_tests.cli import BIN, REPO

MARKET_ASSETS = [dataset.api_name for dataset in TRADE_DATE_DATASETS]

LAUNCH = """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
STATUS = """query($id: String!) { partitionBackfillOrError(backfillId: $id) { __typename
  ... on PartitionBackfill { status numPartitions runs(limit: 20) { runId status } }
  ... on PythonError { message } } }"""
CANCEL = """mutation($id: String!) { cancelPartitionBackfill(backfillId: $id) { __typename
  ... on PythonError { message } } }"""
TERMINATE = """mutation($id: String!) { terminateRun(runId: $id) { __typename
  ... on PythonError { message } } }"""
REEXECUTE = """mutation($params: ReexecutionParams!) { reexecutePartitionBackfill(reexecutionParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
START_SCHEDULE = """mutation($selector: ScheduleSelector!) { startSchedule(scheduleSelector: $selector) {
  __typename ... on ScheduleStateResult { scheduleState { id status } } ... on PythonError { message } } }"""
STOP_SCHEDULE = """mutation($id: String!) { stopRunningSchedule(id: $id) {
  __typename ... on ScheduleStateResult { scheduleState { status } } ... on PythonError { message } } }"""
DAEMONS = """{ instance { daemonHealth { allDaemonStatuses { daemonType healthy required } } } }"""
LAUNCH_RUN = """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) { __typename
  ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
  ... on RunConfigValidationInvalid { errors { message } } } }"""
REPOSITORY = {"repositoryLocationName": "stock_pipeline", "repositoryName": "__repository__"}
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
            # No -h: the webserver's default host is what is under test (loopback only).
            "webserver": [str(BIN / "dagster-webserver"), "-p", str(self.port), "-w", "workspace.yaml"],
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

    def listening_addresses(self) -> set[str]:
        """Local addresses with a socket listening on the webserver's port (from /proc/net/tcp*)."""
        addresses = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for line in Path(table).read_text().splitlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, port = local.split(":")
                if state == "0A" and int(port, 16) == self.port:  # 0A = LISTEN
                    addresses.add(address)
        return addresses

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
