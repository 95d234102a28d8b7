"""Jobs: the named selections that schedules, sensors and the UI launch."""

import dagster as dg

from stock_pipeline.datasets import (
    ADJ_FACTOR,
    DAILY_BASIC,
    INDEX_BASIC,
    INDEX_CLASSIFY,
    INDEX_DATASETS,
    INDEX_MEMBER_ALL,
    NAMECHANGE,
    STATEMENT_DATASETS,
    SUSPEND_D,
    TRADE_DATE_DATASETS,
)

REFERENCE_KEYS = [dg.AssetKey("trade_cal"), dg.AssetKey("stock_basic")]
INDEX_KEYS = [dg.AssetKey(dataset.api_name) for dataset in (INDEX_BASIC, INDEX_CLASSIFY, INDEX_MEMBER_ALL)]
MARKET_KEYS = [dg.AssetKey(dataset.api_name) for dataset in TRADE_DATE_DATASETS]
STATEMENT_KEYS = [dg.AssetKey(dataset.api_name) for dataset in STATEMENT_DATASETS]

reference_data_job = dg.define_asset_job(
    "reference_data_job",
    selection=dg.AssetSelection.assets(*REFERENCE_KEYS),
    description="Refresh the trading calendar and the complete stock list.",
)
market_data_job = dg.define_asset_job(
    "market_data_job",
    selection=dg.AssetSelection.assets(*MARKET_KEYS),
    description="Daily bars, adjustment factors and daily indicators for trading dates.",
)
daily_sync_job = dg.define_asset_job(
    "daily_sync_job",
    selection=dg.AssetSelection.assets(*REFERENCE_KEYS, *MARKET_KEYS),
    description="One trading day: calendar and stock list refreshed first, then that day's market data.",
)
late_corrections_job = dg.define_asset_job(
    "late_corrections_job",
    selection=dg.AssetSelection.assets(ADJ_FACTOR.api_name, DAILY_BASIC.api_name, SUSPEND_D.api_name),
    description="Re-sync recent adjustment factors, daily indicators and suspensions, which Tushare corrects or "
    "completes after the fact.",
)
financial_statements_job = dg.define_asset_job(
    "financial_statements_job",
    selection=dg.AssetSelection.assets(*STATEMENT_KEYS),
    description="Income, balance sheet, cash flow and indicators for stock batches.",
)
disclosure_date_job = dg.define_asset_job(
    "disclosure_date_job",
    selection=dg.AssetSelection.assets("disclosure_date"),
    description="Refresh the disclosure calendar of the open report periods.",
)
indexes_job = dg.define_asset_job(
    "indexes_job",
    selection=dg.AssetSelection.assets(
        *INDEX_KEYS, NAMECHANGE.api_name, *(dataset.api_name for dataset in INDEX_DATASETS)
    ),
    description="Refresh the name history, the index list, the industry classification and membership, and "
    "the synced indexes' bars and weights.",
)
