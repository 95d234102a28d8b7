"""Shared fixtures: a real synthetic Tushare server process and a real warehouse (SQLite or PostgreSQL)."""

import contextlib
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, HTTPServer

# Tests must not see a developer's warehouse or token: the code location reads them when it loads.
for _name in ("STOCK_PIPELINE_DB_URL", "TUSHARE_TOKEN", "TUSHARE_API_URL", "STOCK_PIPELINE_START_DATE"):
    os.environ.pop(_name, None)
os.environ["STOCK_PIPELINE_DATA_DIR"] = tempfile.mkdtemp(prefix="stock_pipeline_tests_")

import dagster as dg
import pytest
import requests
import sqlalchemy as sa

from stock_pipeline.datasets import TushareDataset
from stock_pipeline.defs.reference.assets import stock_basic, trade_cal
from stock_pipeline.resources import TushareResource, WarehouseResource
from stock_pipeline.warehouse import TABLES
from stock_pipeline_tests.databases import POSTGRES_ADMIN_URL, fresh_postgres_database
from tushare_double.app import ServerConfig
from tushare_double.launcher import ServerProcess

REQUIRE_POSTGRES = os.environ.get("STOCK_PIPELINE_REQUIRE_POSTGRES") == "1"
# A fixed clock for the synthetic server: Friday 2024-07-12, 18:00 in Shanghai, after every publication.
SERVER_NOW = "2024-07-12T18:00:00+08:00"
TEST_TOKEN = "0123456789abcdef0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def server() -> Iterator[ServerProcess]:
    config = ServerConfig(tokens={TEST_TOKEN: 5000}, n_stocks=300, now=SERVER_NOW, rate_limit_default=0)
    with ServerProcess(config) as process:
        yield process


def _postgres_available() -> str | None:
    try:
        engine = sa.create_engine(POSTGRES_ADMIN_URL)
        with engine.connect():
            pass
        engine.dispose()
        return None
    except sa.exc.OperationalError as error:
        return str(error).splitlines()[0]


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    problem = _postgres_available()
    if problem:
        message = f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {problem}"
        if REQUIRE_POSTGRES:
            pytest.fail(message)
        pytest.skip(message)
    return POSTGRES_ADMIN_URL


@pytest.fixture
def postgres_url(postgres_admin_url) -> Iterator[str]:
    """A fresh PostgreSQL database per test, dropped afterwards."""
    with fresh_postgres_database(postgres_admin_url, "sp_test") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def warehouse_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'warehouse.db'}"
    return request.getfixturevalue("postgres_url")


def make_resources(server: ServerProcess, warehouse_url: str, **tushare_overrides) -> dict[str, object]:
    settings = {
        "token": server.token,
        "api_url": server.url,
        "calls_per_minute": 0,
        "backoff_seconds": 0.05,
        "max_backoff_seconds": 0.2,
        "rate_limit_cooldown_seconds": 1.0,
        "timeout_seconds": 5.0,
    } | tushare_overrides
    return {"tushare": TushareResource(**settings), "warehouse": WarehouseResource(url=warehouse_url)}


def range_tags(first: str, last: str) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}


def materialize_reference(resources, **kwargs) -> dg.ExecuteInProcessResult:
    return dg.materialize([trade_cal, stock_basic], resources=resources, **kwargs)


def materialize_dates(assets, resources, first: str, last: str, **kwargs) -> dg.ExecuteInProcessResult:
    return dg.materialize(assets, resources=resources, tags=range_tags(first, last), **kwargs)


def run_summary(result: dg.ExecuteInProcessResult, api_name: str) -> dict:
    """A trading-date asset's totals for the run (each date's own figures are on its materialization)."""
    [summary] = result.asset_observations_for_node(api_name)
    return summary.metadata


def table_rows(url: str, dataset: TushareDataset, day: date | None = None) -> list[tuple]:
    """Every row of a table (optionally one date), sorted, with floats as stored."""
    table = TABLES[dataset.api_name]
    query = sa.select(table).order_by(*[table.c[name] for name in dataset.key])
    if day is not None:
        query = query.where(table.c[dataset.date_column] == day)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = [tuple(row) for row in conn.execute(query)]
    engine.dispose()
    return rows


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    return "\n".join(event.step_failure_data.error.message for event in result.get_step_failure_events())


def server_items(server: ServerProcess, api_name: str, params: dict, fields: tuple[str, ...]) -> list[list]:
    """What the server holds for one request, fetched page by page with plain HTTP."""
    items, offset = [], 0
    while True:
        body = {
            "api_name": api_name,
            "token": server.token,
            "params": {**params, "offset": offset},
            "fields": ",".join(fields),
        }
        answer = requests.post(f"{server.url}/{api_name}", json=body, timeout=30).json()
        assert answer["code"] == 0, answer
        items.extend(answer["data"]["items"])
        offset += len(answer["data"]["items"])
        if not answer["data"]["has_more"]:
            return items


@contextlib.contextmanager
def alert_webhook() -> Iterator[tuple[str, list[dict]]]:
    """A real HTTP endpoint for alerts: yields its URL and the JSON bodies posted to it so far."""
    received: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    hook = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{hook.server_port}/", received
    finally:
        hook.shutdown()
