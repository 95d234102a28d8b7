import dagster as dg

from stock_pipeline import settings
from stock_pipeline.assets.corporate_actions import dividend
from stock_pipeline.assets.financials import disclosure_date, statement_assets
from stock_pipeline.assets.indexes import index_assets
from stock_pipeline.assets.market import stock_basic, trade_cal, trade_date_assets
from stock_pipeline.assets.reference import snapshot_assets
from stock_pipeline.datasets import ALL_DATASETS
from stock_pipeline.jobs import (
    daily_sync_job,
    disclosure_date_job,
    financial_statements_job,
    indexes_job,
    late_corrections_job,
    market_data_job,
    reference_data_job,
)
from stock_pipeline.resources import SyncPolicyResource, TushareResource, WarehouseResource
from stock_pipeline.schedules import daily_sync_schedule, disclosure_date_schedule, late_corrections_schedule
from stock_pipeline.sensors import (
    AlertResource,
    gap_compensation_sensor,
    run_failure_alert_sensor,
    statement_disclosure_sensor,
    statement_retry_sensor,
)

# Steps wait on the Tushare budget, not on the CPU: every dataset of a run fetches at once, each spending its
# own per-API budget, whatever the core count (the executor's default, one step per core, left the third of
# three datasets waiting for the first). A step is a process of about 150 MB.
io_bound_executor = dg.multiprocess_executor.configured({"max_concurrent": len(ALL_DATASETS)})

defs = dg.Definitions(
    executor=io_bound_executor,
    assets=[
        trade_cal,
        stock_basic,
        *trade_date_assets,
        *statement_assets,
        disclosure_date,
        *snapshot_assets,
        dividend,
        *index_assets,
    ],
    jobs=[
        reference_data_job,
        market_data_job,
        daily_sync_job,
        late_corrections_job,
        financial_statements_job,
        disclosure_date_job,
        indexes_job,
    ],
    schedules=[daily_sync_schedule, late_corrections_schedule, disclosure_date_schedule],
    sensors=[
        gap_compensation_sensor,
        statement_disclosure_sensor,
        statement_retry_sensor,
        run_failure_alert_sensor,
    ],
    resources={
        "tushare": TushareResource(
            token=dg.EnvVar(settings.TUSHARE_TOKEN_ENV), calls_per_minute=settings.calls_per_minute()
        ),
        "warehouse": WarehouseResource(),
        "sync_policy": SyncPolicyResource(),
        "alerts": AlertResource(),
    },
)
