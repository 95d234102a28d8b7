"""Reference snapshots fetched whole: the name history of every stock, the index list, the Shenwan
industry classification and every stock's industry membership over time."""

import dagster as dg

from stock_pipeline import checks, sync_reference
from stock_pipeline.assets.market import KINDS, REFERENCE_GROUP, call_metadata, failing_clearly
from stock_pipeline.datasets import NAMECHANGE, SNAPSHOT_DATASETS, TushareDataset
from stock_pipeline.resources import TushareResource, WarehouseResource

INDEXES_GROUP = "indexes"


def build_snapshot_asset(dataset: TushareDataset) -> dg.AssetsDefinition:
    @dg.asset(
        key=dataset.api_name,
        group_name=REFERENCE_GROUP if dataset is NAMECHANGE else INDEXES_GROUP,
        kinds=KINDS,
        description=dataset.description,
        pool=dataset.api_name,
        check_specs=[checks.upstream_fields_spec(dataset)],
        metadata={"row_cap": dataset.row_cap, "calls": ", ".join(map(str, dataset.snapshot_calls))},
    )
    def _asset(tushare: TushareResource, warehouse: WarehouseResource) -> dg.MaterializeResult:
        client, store = tushare.client(warehouse), warehouse.open()
        with failing_clearly(tushare):
            report = sync_reference.sync_snapshot(client, store, dataset)
        return dg.MaterializeResult(
            metadata={
                "rows": report.rows,
                "rows_per_call": ", ".join(f"{part}: {rows}" for part, rows in report.rows_by_part.items()),
                **checks.drift_metadata(report.drift.missing, report.drift.extra),
                **call_metadata(client, report.elapsed_seconds),
            },
            check_results=[checks.upstream_fields_result(report.drift.missing, report.drift.extra)],
        )

    return _asset


snapshot_assets = [build_snapshot_asset(dataset) for dataset in SNAPSHOT_DATASETS]
