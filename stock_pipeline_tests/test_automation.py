"""Schedules and sensors that replace the old service's scheduler, evaluated against a real instance."""

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg

from stock_pipeline.defs.financials.assets import disclosure_date, statement_assets
from stock_pipeline.defs.market.assets import trade_date_assets
from stock_pipeline.defs.market.jobs import daily_sync_job, late_corrections_job, market_data_job
from stock_pipeline.defs.market.partitions import last_published_trading_days
from stock_pipeline.defs.market.schedules import daily_sync_schedule, late_corrections_schedule
from stock_pipeline.defs.market.sensors import gap_compensation_sensor
from stock_pipeline.defs.operations.alerts import AlertResource, run_failure_alert_sensor
from stock_pipeline.defs.reference.assets import stock_basic, trade_cal
from stock_pipeline.defs.shared import RANGE_END_TAG, RANGE_START_TAG
from stock_pipeline.resources import SyncPolicyResource
from stock_pipeline.warehouse import Warehouse
from stock_pipeline_tests.conftest import TEST_TOKEN, alert_webhook, make_resources, materialize_reference, range_tags
from tushare_double.app import ServerConfig
from tushare_double.launcher import ServerProcess

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _defs(resources) -> dg.Definitions:
    return dg.Definitions(
        assets=[trade_cal, stock_basic, *trade_date_assets, *statement_assets, disclosure_date],
        jobs=[daily_sync_job, late_corrections_job, market_data_job],
        resources=resources,
    )


def test_the_daily_schedule_syncs_trading_days_only(server, warehouse_url):
    resources = make_resources(server, warehouse_url) | {"sync_policy": SyncPolicyResource()}
    assert materialize_reference(resources).success

    def tick(when: datetime):
        context = dg.build_schedule_context(scheduled_execution_time=when, resources=resources)
        return daily_sync_schedule(context)

    request = tick(datetime(2024, 7, 5, 18, 0, tzinfo=SHANGHAI))
    holiday = tick(datetime(2024, 5, 2, 18, 0, tzinfo=SHANGHAI))  # a weekday the calendar marks closed

    assert (request.partition_key, request.run_key) == ("2024-07-05", "2024-07-05")
    assert isinstance(holiday, dg.SkipReason) and "2024-05-02 is not a trading day" in holiday.skip_message
    result = _defs(resources).resolve_job_def("daily_sync_job").execute_in_process(partition_key=request.partition_key)
    materialized = {event.asset_key.path[0] for event in result.get_asset_materialization_events()}
    market = {"daily", "adj_factor", "daily_basic", "suspend_d", "stk_limit"}
    assert materialized == {"trade_cal", "stock_basic", *market}
    assert all(server.stats()["calls"][api] == 1 for api in market)


def test_late_corrections_resync_the_previous_k_trading_days(server, warehouse_url):
    policy = SyncPolicyResource(late_correction_days=3)
    resources = make_resources(server, warehouse_url) | {"sync_policy": policy}
    assert materialize_reference(resources).success

    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2024, 7, 5, 20, 0, tzinfo=SHANGHAI), resources=resources
    )
    request = late_corrections_schedule(context)

    assert (request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG]) == ("2024-07-02", "2024-07-04")
    result = _defs(resources).resolve_job_def("late_corrections_job").execute_in_process(tags=request.tags)
    assert result.success
    calls = server.stats()["calls"]
    assert (calls["adj_factor"], calls["daily_basic"], calls.get("daily", 0)) == (3, 3, 0)


def test_gap_compensation_requests_missing_dates_oldest_first_and_never_twice():
    # The sensor looks at the real clock, so the synthetic server must too.
    config = ServerConfig(tokens={TEST_TOKEN: 5000}, n_stocks=120, rate_limit_default=0)
    with ServerProcess(config) as server, dg.instance_for_test() as instance:
        url = f"sqlite:///{instance.root_directory}/warehouse.db"
        policy = SyncPolicyResource(max_compensation_days=5)
        resources = make_resources(server, url) | {"sync_policy": policy}
        assert materialize_reference(resources).success
        store = Warehouse(url)
        recent = [d.isoformat() for d in last_published_trading_days(store.calendar(), datetime.now(SHANGHAI), 5)]
        store.dispose()

        def evaluate():
            return gap_compensation_sensor(dg.build_sensor_context(instance=instance, resources=resources)).run_requests

        empty = evaluate()
        assert [r.partition_key for r in empty] == recent[-1:]  # an empty warehouse starts at the latest day

        for key in (recent[0], recent[2], recent[4]):
            assert dg.materialize(
                trade_date_assets, resources=resources, instance=instance, tags=range_tags(key, key)
            ).success
        gaps = evaluate()
        assert [r.partition_key for r in gaps] == [recent[1], recent[3]]

        job = _defs(resources).resolve_job_def("market_data_job")
        instance.create_run_for_job(job, status=dg.DagsterRunStatus.STARTED, tags={"dagster/partition": recent[1]})
        assert [r.partition_key for r in evaluate()] == [recent[3]]  # a date in flight is not requested again


def test_failed_runs_are_logged_and_posted_to_the_alert_webhook(server, warehouse_url):
    resources = make_resources(server, warehouse_url, token="wrong-token")
    with alert_webhook() as (url, received), dg.instance_for_test() as instance:
        result = dg.materialize([trade_cal], resources=resources, instance=instance, raise_on_error=False)
        assert not result.success
        context = dg.build_run_status_sensor_context(
            sensor_name="run_failure_alert_sensor",
            dagster_event=result.get_run_failure_event(),
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            resources={"alerts": AlertResource(webhook_url=url)},
        ).for_run_failure()
        run_failure_alert_sensor(context)

    [message] = received
    assert message["run_id"] == result.run_id
    assert "wrong-token" not in json.dumps(message, ensure_ascii=False)


def test_gap_compensation_asks_for_missing_datasets_with_backoff_then_gives_the_date_up():
    config = ServerConfig(tokens={TEST_TOKEN: 5000}, n_stocks=60, rate_limit_default=0)
    with ServerProcess(config) as server, dg.instance_for_test() as instance:
        url = f"sqlite:///{instance.root_directory}/warehouse.db"
        resources = make_resources(server, url)
        assert materialize_reference(resources).success
        store = Warehouse(url)
        [day] = [d.isoformat() for d in last_published_trading_days(store.calendar(), datetime.now(SHANGHAI), 1)]
        store.dispose()
        # daily_basic failed for the date (say it is never published); daily and adj_factor were written.
        written = [asset for asset in trade_date_assets if asset.key.path[0] != "daily_basic"]
        assert dg.materialize(written, resources=resources, instance=instance, tags=range_tags(day, day)).success

        def tick(cursor, **policy):
            policy = SyncPolicyResource(max_compensation_days=1, max_gap_attempts=3, **policy)
            context = dg.build_sensor_context(
                instance=instance, resources=resources | {"sync_policy": policy}, cursor=cursor
            )
            return gap_compensation_sensor(context)

        first = tick(None, gap_backoff_seconds=3600)
        [request] = first.run_requests
        assert (request.partition_key, request.run_key) == (day, f"gap:{day}:1")
        assert request.asset_selection == [dg.AssetKey("daily_basic")]  # only the missing dataset
        assert tick(first.cursor, gap_backoff_seconds=3600).run_requests == []  # backing off

        cursor, run_keys, reports = first.cursor, [request.run_key], []
        for _ in range(5):  # no backoff: every tick is due; the limit alone bounds the requests
            result = tick(cursor, gap_backoff_seconds=0)
            cursor = result.cursor
            run_keys += [r.run_key for r in result.run_requests]
            reports += result.asset_events
        assert run_keys == [f"gap:{day}:1", f"gap:{day}:2", f"gap:{day}:3"]
        [given_up] = reports
        assert (given_up.asset_key, given_up.partition) == (dg.AssetKey("daily_basic"), day)
        assert given_up.metadata["gap_attempts"].value == 3
