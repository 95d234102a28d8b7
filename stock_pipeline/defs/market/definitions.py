import dagster as dg

from stock_pipeline.defs.market.assets import trade_date_assets
from stock_pipeline.defs.market.jobs import daily_sync_job, late_corrections_job, market_data_job
from stock_pipeline.defs.market.schedules import daily_sync_schedule, late_corrections_schedule
from stock_pipeline.defs.market.sensors import gap_compensation_sensor

defs = dg.Definitions(
    assets=trade_date_assets,
    jobs=[market_data_job, daily_sync_job, late_corrections_job],
    schedules=[daily_sync_schedule, late_corrections_schedule],
    sensors=[gap_compensation_sensor],
)
