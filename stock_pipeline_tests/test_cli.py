"""A materialization through the real `dagster asset materialize` CLI, as users run it."""

import pytest

from stock_pipeline.datasets import ADJ_FACTOR, DAILY, DAILY_BASIC
from stock_pipeline_tests.cli import dagster_home, materialize, project_env
from stock_pipeline_tests.conftest import server_items, table_rows


@pytest.mark.slow
def test_cli_materializes_reference_data_then_a_partition_range(server, warehouse_url, tmp_path):
    env = project_env(dagster_home(tmp_path), server.url, server.token, warehouse_url)

    output = materialize(env, "--select", "trade_cal,stock_basic")
    output += materialize(
        env, "--select", "daily,adj_factor,daily_basic", "--partition-range", "2024-07-01...2024-07-05"
    )

    # Quiet by default (dagster.yaml's python_log_level): no DEBUG stream, no beta warnings.
    assert " - DEBUG - " not in output and "BetaWarning" not in output
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
