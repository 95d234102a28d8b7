import dagster as dg

from stock_pipeline.defs.indexes.assets import index_history_assets, index_snapshot_assets
from stock_pipeline.defs.indexes.jobs import indexes_job

defs = dg.Definitions(assets=[*index_snapshot_assets, *index_history_assets], jobs=[indexes_job])
