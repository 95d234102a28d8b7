"""Scale-out on a real broker: the Celery deployment of deploy/celery with two `dagster-celery` worker processes on
RabbitMQ, Dagster storage and the warehouse on PostgreSQL, and the bundled Tushare server holding every market API
to a few calls per window. Two runs of five trading-date assets, launched at once from the CLI, must spread their
steps over both workers, never be refused by the server, and leave the warehouse a single-process run leaves."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit, urlunsplit

import dagster as dg
import kombu
import pytest
import sqlalchemy as sa

from stock_pipeline import definitions as project
from stock_pipeline.datasets import TRADE_DATE_DATASETS
from stock_pipeline.warehouse import partition_sync_log
from stock_pipeline_tests.cli import BIN, REPO, dagster_home, project_env
from stock_pipeline_tests.conftest import (
    TEST_TOKEN,
    fresh_postgres_database,
    make_resources,
    materialize_dates,
    materialize_reference,
    table_rows,
)
from tushare_double.app import ServerConfig
from tushare_double.launcher import ServerProcess

AMQP_URL = os.environ.get("STOCK_PIPELINE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
CELERY = REPO / "deploy" / "celery"
MARKET_APIS = [dataset.api_name for dataset in TRADE_DATE_DATASETS]
# The server admits LIMIT calls per API in any WINDOW seconds; a run's step needs 5 calls (one per date), so every
# step must wait on the budget, and the second run's step for an API starts while the first's calls still count.
LIMIT, WINDOW = 3, 10.0
RUNS = (("2024-07-01", "2024-07-05"), ("2024-07-08", "2024-07-12"))
WORKERS = ("worker_a", "worker_b")


def _broker_problem(url: str) -> str | None:
    try:
        with kombu.Connection(url, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
    except (OSError, kombu.exceptions.KombuError) as error:
        return str(error) or type(error).__name__
    return None


def _rabbitmqctl(*args: str) -> None:
    done = subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"rabbitmqctl {' '.join(args)}: {done.stdout}{done.stderr}"


@pytest.fixture
def broker_url() -> Iterator[str]:
    """RabbitMQ, started here when it is down on this machine (as scripts/test.sh starts PostgreSQL). Unreachable
    is a failure: this is the deployment's only scale-out path, and a skip would hide that it was never run.

    On this machine's broker the test gets a virtual host of its own, dropped afterwards: the `dagster` queue and
    the workers' control queues are per virtual host, so two runs of this test at once (or leftovers of a killed
    one) never take each other's steps. A broker named by STOCK_PIPELINE_TEST_AMQP_URL is used as it is."""
    broker = kombu.Connection(AMQP_URL)
    this_machines = broker.hostname in ("127.0.0.1", "localhost") and (broker.port or 5672) == 5672
    problem = _broker_problem(AMQP_URL)
    if problem and this_machines and shutil.which("rabbitmq-server"):
        subprocess.run(["rabbitmq-server", "-detached"], capture_output=True, timeout=60)
        deadline = time.monotonic() + 60
        while (problem := _broker_problem(AMQP_URL)) and time.monotonic() < deadline:
            time.sleep(2)
    if problem:
        pytest.fail(
            f"RabbitMQ not reachable at {broker.as_uri()}: {problem}. Start it "
            "(`rabbitmq-server -detached`) or point STOCK_PIPELINE_TEST_AMQP_URL at one."
        )
    if not (this_machines and shutil.which("rabbitmqctl")):
        yield AMQP_URL
        return
    vhost = f"sp_test_{uuid.uuid4().hex[:12]}"
    _rabbitmqctl("add_vhost", vhost)
    try:
        _rabbitmqctl("set_permissions", "-p", vhost, broker.userid, ".*", ".*", ".*")
        yield urlunsplit(urlsplit(AMQP_URL)._replace(path=f"/{vhost}"))
    finally:
        _rabbitmqctl("delete_vhost", vhost)


class Workers:
    """`dagster-celery worker start` processes, each in its own process group (the command runs `celery worker`
    as a child, and that worker forks the pool processes that execute steps)."""

    def __init__(self, env: dict[str, str], logs: Path):
        self.logs = {name: logs / f"{name}.log" for name in WORKERS}
        self.processes = {}
        for name in WORKERS:
            command = [
                str(BIN / "dagster-celery"),
                *("worker", "start", "-A", "dagster_celery.app", "-y", str(CELERY / "celery.yaml"), "-n", name),
                "--",
                "--concurrency=2",
            ]
            with open(self.logs[name], "w") as log:
                self.processes[name] = subprocess.Popen(
                    command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )

    def wait_ready(self, timeout: float = 90) -> None:
        """Until both consume from the broker: a run launched earlier would hand every step to the first."""
        host = socket.gethostname()
        deadline = time.monotonic() + timeout
        while not all(f"{name}@{host} ready." in self.logs[name].read_text() for name in WORKERS):
            for name, process in self.processes.items():
                assert process.poll() is None, f"{name} exited:\n{self.logs[name].read_text()[-3000:]}"
            assert time.monotonic() < deadline, {name: log.read_text()[-2000:] for name, log in self.logs.items()}
            time.sleep(1)

    def owner(self, pid: int) -> str | None:
        """The worker whose process tree holds `pid` (read from /proc while the workers run)."""
        started = {process.pid: name for name, process in self.processes.items()}
        while pid > 1:
            if pid in started:
                return started[pid]
            status = Path(f"/proc/{pid}/status")
            if not status.exists():
                return None
            pid = int(next(line.split()[1] for line in status.read_text().splitlines() if line.startswith("PPid:")))
        return None

    def stop(self) -> None:
        """SIGTERM to each worker's whole process group (Celery's warm shutdown), then until the groups are gone:
        the wrapper command dies at once, its Celery worker only after it has let go of the broker."""
        groups = set()
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
                groups.add(process.pid)
        deadline = time.monotonic() + 30
        while groups and time.monotonic() < deadline:
            for process in self.processes.values():
                process.poll()  # reaps the wrapper, which would otherwise stay in its group as a zombie
            for group in list(groups):
                try:
                    os.killpg(group, 0)
                except ProcessLookupError:
                    groups.discard(group)
            time.sleep(0.5)
        for group in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
        for process in self.processes.values():
            process.wait()


def _run_config(path: Path) -> Path:
    """The project's own budget set equal to the server's limits (calls per WINDOW, not per minute, to keep the
    test short). Run config replaces the resource's settings, so the token is named again, from the environment."""
    limits = "\n".join(f"        {api}: {LIMIT}" for api in MARKET_APIS)
    path.write_text(
        "resources:\n  tushare:\n    config:\n      token:\n        env: TUSHARE_TOKEN\n"
        f"      calls_per_minute: 0\n      rate_window_seconds: {WINDOW}\n"
        f"      calls_per_minute_by_api:\n{limits}\n"
    )
    return path


class CliRun:
    """`dagster asset materialize` of the Celery code location, running in the background: the process that
    orchestrates the run and hands each step to the broker."""

    def __init__(self, env: dict[str, str], config: Path, log: Path, *args: str):
        self.log = log
        command = [
            str(BIN / "dagster"),
            *("asset", "materialize", "-f", str(CELERY / "definitions.py"), "-d", str(REPO), "-c", str(config)),
            *args,
        ]
        with open(log, "w") as out:
            self.process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)

    def finish(self, timeout: float = 240) -> None:
        assert self.process.wait(timeout=timeout) == 0, self.log.read_text()[-4000:]


class Step(NamedTuple):
    run_id: str
    key: str
    announced_by: str | None  # the worker dagster-celery's task names in its engine event
    process_of: str | None  # the worker whose process tree emitted STEP_START, read independently from /proc
    ended: float


def _steps(instance: dg.DagsterInstance, workers: Workers) -> list[Step]:
    steps = []
    for run in instance.get_runs():
        announced, started, ended = {}, {}, {}
        for entry in instance.all_logs(run.run_id):
            event = entry.dagster_event
            if event is None:
                continue
            if event.event_type == dg.DagsterEventType.ENGINE_EVENT:
                worker = event.engine_event_data.metadata.get("Celery worker")
                if worker is not None:
                    announced[event.step_key] = worker.value.split("@")[0]
            elif event.event_type == dg.DagsterEventType.STEP_START:
                started[event.step_key] = workers.owner(event.pid)
            elif event.event_type == dg.DagsterEventType.STEP_SUCCESS:
                ended[event.step_key] = entry.timestamp
        steps += [
            Step(run.run_id, key, announced.get(key), worker, ended.get(key, 0.0)) for key, worker in started.items()
        ]
    return steps


def _wait_submitted(instance: dg.DagsterInstance, cli: CliRun, steps: int, timeout: float = 120) -> str:
    """The id of the instance's only run, once it has handed `steps` steps to Celery."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert cli.process.poll() is None, cli.log.read_text()[-4000:]
        for run in instance.get_runs():
            events = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
            if sum(entry.message.startswith("Submitting celery task") for entry in events) >= steps:
                return run.run_id
        time.sleep(1)
    raise AssertionError(f"no run handed {steps} steps to Celery within {timeout}s")


def _max_in_window(times: list[float]) -> int:
    times = sorted(times)
    return max((sum(1 for t in times[i:] if t < start + WINDOW) for i, start in enumerate(times)), default=0)


def _warehouse(url: str) -> dict[str, list[tuple]]:
    """Every market table and, of the sync log, which dates each dataset wrote and how many rows (not which run
    wrote them or when)."""
    contents = {dataset.api_name: table_rows(url, dataset) for dataset in TRADE_DATE_DATASETS}
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        log = partition_sync_log.c
        query = sa.select(log.dataset, log.partition_key, log.rows).order_by(log.dataset, log.partition_key)
        contents["partition_sync_log"] = [tuple(row) for row in conn.execute(query)]
    engine.dispose()
    return contents


@pytest.mark.slow
def test_two_celery_workers_share_the_budget_and_write_what_one_process_writes(
    broker_url, postgres_admin_url, tmp_path, monkeypatch
):
    limits = dict.fromkeys(MARKET_APIS, LIMIT)
    config = ServerConfig(
        tokens={TEST_TOKEN: 5000},
        n_stocks=150,
        now="2024-07-12T18:00:00+08:00",
        rate_limits=limits,
        rate_limit_default=0,
        rate_window_seconds=WINDOW,
    )
    with (
        ServerProcess(config) as server,
        fresh_postgres_database(postgres_admin_url, "sp_celery_dagster") as dagster_url,
        fresh_postgres_database(postgres_admin_url, "sp_celery_warehouse") as warehouse_url,
        fresh_postgres_database(postgres_admin_url, "sp_single_warehouse") as single_url,
    ):
        (tmp_path / "celery").mkdir()
        home = dagster_home(tmp_path / "celery", CELERY / "dagster.yaml")
        extra = {"DAGSTER_PG_URL": dagster_url, "DAGSTER_CELERY_BROKER_URL": broker_url}
        env = project_env(home, server.url, server.token, warehouse_url, **extra)
        monkeypatch.setenv("DAGSTER_PG_URL", dagster_url)  # for this process's view of the same instance
        run_config = _run_config(tmp_path / "budget.yaml")
        workers = Workers(env, tmp_path)
        try:
            # Set-up while the workers start: the calendar and the stock list in both warehouses (unthrottled APIs).
            for url in (warehouse_url, single_url):
                assert materialize_reference(make_resources(server, url)).success
            workers.wait_ready()
            started = time.monotonic()
            with dg.DagsterInstance.from_config(str(home)) as instance:
                first, second = (
                    ("--select", ",".join(MARKET_APIS), "--partition-range", f"{a}...{b}") for a, b in RUNS
                )
                first_run = CliRun(env, run_config, tmp_path / "first.log", *first)
                # The first run hands its five steps to Celery at once. The second, launched then, waits for each
                # dataset's pool slot, so its step for an API starts as the first run's ends, inside its window.
                first_run_id = _wait_submitted(instance, first_run, len(MARKET_APIS))
                second_run = CliRun(env, run_config, tmp_path / "second.log", *second)
                first_run.finish()
                second_run.finish()
                celery_seconds = time.monotonic() - started
                statuses = {run.run_id: run.status for run in instance.get_runs()}
                steps = _steps(instance, workers)
        finally:
            workers.stop()
        stats = server.stats()

        assert len(statuses) == 2, statuses
        assert set(statuses.values()) == {dg.DagsterRunStatus.SUCCESS}, statuses
        assert len(steps) == 2 * len(MARKET_APIS), steps
        for step in steps:
            assert step.process_of in WORKERS and step.announced_by == step.process_of, step
        assert {step.process_of for step in steps if step.run_id == first_run_id} == set(WORKERS), steps

        # The budget held across processes: nothing refused, and it paced the calls. Each API's calls reached
        # its limit in a window, and the second run's step for an API started calling while the first run's calls
        # still counted there (every step in its own process, on whichever worker took it).
        assert stats["rejected"] == {}, stats["rejected"]
        calls = {api: sorted(t for t, name, _ in stats["calls_log"] if name == api) for api in MARKET_APIS}
        assert {api: _max_in_window(times) for api, times in calls.items()} == limits
        first_ends = {step.key: step.ended for step in steps if step.run_id == first_run_id}
        gaps = {}
        for api, times in calls.items():
            earlier = [t for t in times if t <= first_ends[api]]
            later = [t for t in times if t > first_ends[api]]
            assert earlier and later, (api, times, first_ends[api])
            gaps[api] = later[0] - earlier[-1]
        shared = {api for api, gap in gaps.items() if gap < WINDOW}
        assert shared, gaps
        placed = {(step.run_id == first_run_id, step.key): step.process_of for step in steps}
        across_workers = {api for api in shared if placed[(True, api)] != placed[(False, api)]}
        print(
            f"celery: {celery_seconds:.0f} s for 2 runs; steps by worker: {sorted(placed.items())}; "
            f"seconds between the two runs' calls per API: {gaps}; shared a window across workers: {across_workers}"
        )

        # The same dates in one process (in-process executor), into the other warehouse, unthrottled.
        server.configure(rate_limits={})
        assets = [a for a in project.defs.assets if a.key.to_user_string() in MARKET_APIS]
        assert materialize_dates(assets, make_resources(server, single_url), RUNS[0][0], RUNS[1][1]).success
        celery_warehouse, single_warehouse = _warehouse(warehouse_url), _warehouse(single_url)
        assert all(celery_warehouse[api] for api in MARKET_APIS)
        assert celery_warehouse == single_warehouse
