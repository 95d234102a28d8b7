"""Resource settings read at run time: run config that sets some fields keeps the environment's others."""

import dagster as dg
import pytest

from stock_pipeline.resources import TushareResource, WarehouseResource


def test_the_budget_comes_from_run_config_then_the_environment_then_the_points_tier(monkeypatch):
    monkeypatch.delenv("STOCK_PIPELINE_CALLS_PER_MINUTE", raising=False)
    assert TushareResource(points=5000).budget_per_minute() == 500
    monkeypatch.setenv("STOCK_PIPELINE_CALLS_PER_MINUTE", "80")
    # Run config naming only `points` (it replaces the resource's whole config) keeps the deployment's budget.
    assert TushareResource(points=5000).budget_per_minute() == 80
    assert TushareResource(points=5000, calls_per_minute=30).budget_per_minute() == 30
    monkeypatch.setenv("STOCK_PIPELINE_CALLS_PER_MINUTE", "fast")
    with pytest.raises(dg.Failure, match="expected a whole number"):
        TushareResource().budget_per_minute()


def test_a_missing_token_fails_before_any_call_naming_the_fix(monkeypatch, tmp_path):
    monkeypatch.delenv("TUSHARE_TOKEN", raising=False)
    warehouse = WarehouseResource(url=f"sqlite:///{tmp_path / 'warehouse.db'}")
    with pytest.raises(dg.Failure, match="TUSHARE_TOKEN is not set: export TUSHARE_TOKEN="):
        TushareResource(api_url="http://127.0.0.1:9/dataapi").client(warehouse)
    monkeypatch.setenv("TUSHARE_TOKEN", "from-the-environment")
    assert TushareResource(api_url="http://127.0.0.1:9/dataapi").resolved_token() == "from-the-environment"
