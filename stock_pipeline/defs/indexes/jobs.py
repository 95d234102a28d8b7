import dagster as dg

from stock_pipeline.datasets import INDEX_DATASETS, SNAPSHOT_DATASETS

indexes_job = dg.define_asset_job(
    "indexes_job",
    selection=dg.AssetSelection.assets(
        *(dataset.api_name for dataset in SNAPSHOT_DATASETS), *(dataset.api_name for dataset in INDEX_DATASETS)
    ),
    description="Refresh the name history, the index list, the industry classification "
    "and membership, and the synced indexes' bars and weights.",
)
