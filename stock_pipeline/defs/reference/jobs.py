import dagster as dg

from stock_pipeline.datasets import STOCK_BASIC, TRADE_CAL

REFERENCE_KEYS = [dg.AssetKey(TRADE_CAL.api_name), dg.AssetKey(STOCK_BASIC.api_name)]

reference_data_job = dg.define_asset_job(
    "reference_data_job",
    selection=dg.AssetSelection.assets(*REFERENCE_KEYS),
    description="Refresh the trading calendar and the complete stock list.",
)
