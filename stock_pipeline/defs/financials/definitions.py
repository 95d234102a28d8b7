import dagster as dg

from stock_pipeline.defs.financials.assets import disclosure_date, statement_assets
from stock_pipeline.defs.financials.dividends import dividend
from stock_pipeline.defs.financials.jobs import disclosure_date_job, financial_statements_job
from stock_pipeline.defs.financials.schedules import disclosure_date_schedule
from stock_pipeline.defs.financials.sensors import statement_disclosure_sensor, statement_retry_sensor

defs = dg.Definitions(
    assets=[*statement_assets, disclosure_date, dividend],
    jobs=[financial_statements_job, disclosure_date_job],
    schedules=[disclosure_date_schedule],
    sensors=[statement_disclosure_sensor, statement_retry_sensor],
)
