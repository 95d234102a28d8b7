"""A materialization through the real `dagster asset materialize` CLI, as users run it."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stock_pipeline.datasets import ADJ_FACTOR, DAILY, DAILY_BASIC
from stock_pipeline_tests.conftest import server_items, table_rows

REPO = Path(__file__).resolve().parents[1]
DAGSTER = str(Path(sys.executable).with_name("dagster"))


@pytest.mark.slow
def test_cli_materializes_reference_data_then_a_partition_range(server, warehouse_url, tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = os.environ | {
        "DAGSTER_HOME": str(home),
        "TUSHARE_TOKEN": server.token,
        "TUSHARE_API_URL": server.url,
        "STOCK_PIPELINE_DB_URL": warehouse_url,
        "STOCK_PIPELINE_START_DATE": "2024-01-02",
    }

    def materialize(*args: str) -> str:
        done = subprocess.run(
            [DAGSTER, "asset", "materialize", "-m", "stock_pipeline", *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout + done.stderr

    output = materialize("--select", "trade_cal,stock_basic")
    output += materialize("--select", "daily,adj_factor,daily_basic", "--partition-range", "2024-07-01...2024-07-05")

    assert "RUN_SUCCESS" in output
    for dataset in (DAILY, ADJ_FACTOR, DAILY_BASIC):
        stored = table_rows(warehouse_url, dataset)
        expected = [
            item
            for day in ("20240701", "20240702", "20240703", "20240704", "20240705")
            for item in server_items(server, dataset.api_name, {"trade_date": day}, dataset.fields)
        ]
        assert len(stored) == len(expected) > 0
        assert {row[0] for row in stored} == {item[0] for item in expected}
    assert server.token not in output
