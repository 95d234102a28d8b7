import dagster as dg

from stock_pipeline.datasets import ADJ_FACTOR, DAILY_BASIC, SUSPEND_D, TRADE_DATE_DATASETS
from stock_pipeline.defs.reference.jobs import REFERENCE_KEYS

MARKET_KEYS = [dg.AssetKey(dataset.api_name) for dataset in TRADE_DATE_DATASETS]
# Datasets Tushare corrects or completes after the fact.
LATE_CORRECTED = (ADJ_FACTOR, DAILY_BASIC, SUSPEND_D)

market_data_job = dg.define_asset_job(
    "market_data_job",
    selection=dg.AssetSelection.assets(*MARKET_KEYS),
    description="Every trading-date dataset (bars, adjustment factors, indicators, suspensions, price limits) "
    "for trading dates.",
)
daily_sync_job = dg.define_asset_job(
    "daily_sync_job",
    selection=dg.AssetSelection.assets(*REFERENCE_KEYS, *MARKET_KEYS),
    description="One trading day: calendar and stock list refreshed first, then that day's market data.",
)
late_corrections_job = dg.define_asset_job(
    "late_corrections_job",
    selection=dg.AssetSelection.assets(*(dataset.api_name for dataset in LATE_CORRECTED)),
    description="Re-sync recent adjustment factors, daily indicators and suspensions, which Tushare corrects or "
    "completes after the fact.",
)
