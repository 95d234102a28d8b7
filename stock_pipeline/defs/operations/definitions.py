import dagster as dg

from stock_pipeline.defs.operations.alerts import AlertResource, run_failure_alert_sensor
from stock_pipeline.defs.operations.freshness import market_freshness_sensor

defs = dg.Definitions(
    sensors=[run_failure_alert_sensor, market_freshness_sensor], resources={"alerts": AlertResource()}
)
