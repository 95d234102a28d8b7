import dagster as dg

from stock_pipeline import settings
from stock_pipeline.assets.financials import disclosure_date, statement_assets
from stock_pipeline.assets.market import MARKET_GROUP, stock_basic, trade_cal, trade_date_assets
from stock_pipeline.resources import SyncPolicyResource, TushareResource, WarehouseResource
from stock_pipeline.sensors import financial_statements_job, statement_disclosure_sensor, statement_retry_sensor

market_data_job = dg.define_asset_job(
    "market_data_job",
    selection=dg.AssetSelection.groups(MARKET_GROUP),
    description="Daily bars, adjustment factors and daily indicators for a range of trading dates.",
)
reference_data_job = dg.define_asset_job(
    "reference_data_job",
    selection=dg.AssetSelection.assets(trade_cal, stock_basic),
    description="Refresh the trading calendar and the complete stock list.",
)
disclosure_date_job = dg.define_asset_job(
    "disclosure_date_job",
    selection=dg.AssetSelection.assets(disclosure_date),
    description="Refresh the disclosure calendar of the open report periods.",
)
# Statements are published on the evening of their disclosure (21:00-23:00 Shanghai time).
disclosure_date_schedule = dg.ScheduleDefinition(
    job=disclosure_date_job,
    cron_schedule="30 17,21,23 * * *",
    execution_timezone=settings.TIMEZONE,
    default_status=dg.DefaultScheduleStatus.STOPPED,
)

defs = dg.Definitions(
    assets=[trade_cal, stock_basic, *trade_date_assets, *statement_assets, disclosure_date],
    jobs=[market_data_job, reference_data_job, financial_statements_job, disclosure_date_job],
    schedules=[disclosure_date_schedule],
    sensors=[statement_disclosure_sensor, statement_retry_sensor],
    resources={
        "tushare": TushareResource(token=dg.EnvVar(settings.TUSHARE_TOKEN_ENV)),
        "warehouse": WarehouseResource(),
        "sync_policy": SyncPolicyResource(),
    },
)
