import dagster as dg

from stock_pipeline import settings
from stock_pipeline.assets.market import MARKET_GROUP, stock_basic, trade_cal, trade_date_assets
from stock_pipeline.resources import TushareResource, WarehouseResource

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

defs = dg.Definitions(
    assets=[trade_cal, stock_basic, *trade_date_assets],
    jobs=[market_data_job, reference_data_job],
    resources={
        "tushare": TushareResource(token=dg.EnvVar(settings.TUSHARE_TOKEN_ENV)),
        "warehouse": WarehouseResource(),
    },
)
