import dagster as dg

from stock_pipeline.datasets import DISCLOSURE_DATE, STATEMENT_DATASETS

STATEMENT_KEYS = [dg.AssetKey(dataset.api_name) for dataset in STATEMENT_DATASETS]

financial_statements_job = dg.define_asset_job(
    "financial_statements_job",
    selection=dg.AssetSelection.assets(*STATEMENT_KEYS),
    description="Income, balance sheet, cash flow and indicators for stock batches.",
)
disclosure_date_job = dg.define_asset_job(
    "disclosure_date_job",
    selection=dg.AssetSelection.assets(DISCLOSURE_DATE.api_name),
    description="Refresh the disclosure calendar of the open report periods.",
)
