import dagster as dg

from stock_pipeline.defs.operations.alerts import AlertResource, run_failure_alert_sensor

defs = dg.Definitions(sensors=[run_failure_alert_sensor], resources={"alerts": AlertResource()})
