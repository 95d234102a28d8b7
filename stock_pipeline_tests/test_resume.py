"""Resume after a crash through the real deployment: a single-run backfill launched by dagster-daemon, its
run worker SIGKILLed midway, the documented recovery, and the rerun the daemon launches for it (the
instance's run retries re-execute the run from failure) fetching only the dates not yet committed."""

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from stock_pipeline_tests.cli import BIN, REPO, dagster_home, materialize, project_env
from stock_pipeline_tests.conftest import fresh_postgres_database, server_items
from stock_pipeline_tests.deployment import MARKET_ASSETS, Deployment

RUN_EVENTS = """query($id: ID!) { runOrError(runId: $id) { ... on Run { status
  eventConnection(afterCursor: null) { events { __typename ... on MessageEvent { message } } } } } }"""
FINISHED = {"COMPLETED", "COMPLETED_SUCCESS", "FAILED", "COMPLETED_FAILED", "CANCELED"}


def _open_days(server, first: str, last: str) -> list[str]:
    items = server_items(
        server,
        "trade_cal",
        {"start_date": first.replace("-", ""), "end_date": last.replace("-", ""), "is_open": "1"},
        ("cal_date",),
    )
    return sorted(f"{d[0][:4]}-{d[0][4:6]}-{d[0][6:]}" for d in items)


def _descendants(pid: int) -> list[int]:
    """`pid` and every process below it, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while being read
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(children.get(current, []))
    return found


def _run_status(dagster: Deployment, run_id: str) -> str:
    return dagster.graphql(RUN_EVENTS, id=run_id)["runOrError"]["status"]


def _run_worker_pid(dagster: Deployment, run_id: str) -> int:
    """The run worker's pid, from the engine event the code server writes when it starts it."""
    events = dagster.graphql(RUN_EVENTS, id=run_id)["runOrError"]["eventConnection"]["events"]
    pids = [re.search(r"Started process for run \(pid: (\d+)\)", e.get("message") or "") for e in events]
    [pid] = [int(match.group(1)) for match in pids if match]
    return pid


@pytest.mark.slow
def test_a_daemon_backfill_killed_midway_is_resumed_fetching_only_the_dates_left(
    server, postgres_admin_url, tmp_path, monkeypatch
):
    with (
        fresh_postgres_database(postgres_admin_url, "sp_resume_dagster") as dagster_url,
        fresh_postgres_database(postgres_admin_url, "sp_resume_warehouse") as warehouse_url,
    ):
        # The PostgreSQL deployment as shipped: its run retries and run monitoring included.
        home = dagster_home(tmp_path, REPO / "deploy" / "postgres" / "dagster.yaml")
        env = project_env(home, server.url, server.token, warehouse_url, DAGSTER_PG_URL=dagster_url)
        monkeypatch.setenv("DAGSTER_PG_URL", dagster_url)  # read by this process's view of the instance
        materialize(env, "--select", "trade_cal,stock_basic")
        days = _open_days(server, "2024-05-06", "2024-06-28")
        # Slow answers keep the run busy long enough to kill it midway.
        server.configure(random_faults={"rate": 1.0, "kinds": ["slow"], "apis": MARKET_ASSETS}, slow_seconds=0.2)
        engine = sa.create_engine(warehouse_url)

        def committed() -> dict[str, set[str]]:
            with engine.connect() as conn:
                rows = conn.execute(sa.text("SELECT dataset, partition_key FROM partition_sync_log")).all()
            return {api: {key for dataset, key in rows if dataset == api} for api in MARKET_ASSETS}

        dagster = Deployment(env, tmp_path)
        try:
            backfill_id = dagster.launch(days[0], days[-1])
            deadline = time.monotonic() + 180
            while min(len(keys) for keys in committed().values()) < len(days) // 3:
                state = dagster.backfill(backfill_id)
                assert state["status"] not in FINISHED, state
                assert time.monotonic() < deadline, committed()
                time.sleep(0.05)
            [run] = dagster.backfill(backfill_id)["runs"]
            worker = _run_worker_pid(dagster, run["runId"])
            for pid in _descendants(worker):  # the run worker and its step processes, as in a crash
                os.kill(pid, signal.SIGKILL)
            time.sleep(1)  # let the server finish answering calls already in flight
            at_kill, before = committed(), server.stats()["calls"]
            server.configure(random_faults={})
            assert all(0 < len(at_kill[api]) < len(days) for api in MARKET_ASSETS), at_kill

            # Before any rerun, Dagster's storage holds the dates committed as materialized (the kill may fall
            # between a date's commit and its event).
            with dg.DagsterInstance.from_config(str(home)) as instance:
                for api in MARKET_ASSETS:
                    shown = set(instance.get_materialized_partitions(dg.AssetKey(api)))
                    assert shown <= at_kill[api] and len(at_kill[api] - shown) <= 1, api
            # The code server sees its run worker gone and marks the run failed.
            deadline = time.monotonic() + 60
            while _run_status(dagster, run["runId"]) != "FAILURE":
                assert time.monotonic() < deadline
                time.sleep(0.2)

            # The documented recovery frees the run's pool slots; the instance's run retries re-execute the
            # run from failure, as part of the backfill.
            recovered = subprocess.run(
                [str(BIN / "python"), "-m", "stock_pipeline.recover", "--run-id", run["runId"]],
                cwd=REPO,
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
            assert run["runId"] in recovered.stdout
            done = dagster.wait(backfill_id, FINISHED, timeout=300)
            after = server.stats()["calls"]
        finally:
            dagster.stop()
            engine.dispose()

        assert done["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), done
        assert len(done["runs"]) == 2  # the killed run and its re-execution
        rerun_calls = {api: after.get(api, 0) - before.get(api, 0) for api in MARKET_ASSETS}
        assert rerun_calls == {api: len(days) - len(at_kill[api]) for api in MARKET_ASSETS}
        with dg.DagsterInstance.from_config(str(home)) as instance:
            for api in MARKET_ASSETS:
                assert set(instance.get_materialized_partitions(dg.AssetKey(api))) == set(days)
