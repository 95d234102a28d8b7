"""Indexes: the index list, the Shenwan industry classification and every stock's membership over time
(snapshots fetched whole), and the synced indexes' bars and weights, partitioned by index code
(`STOCK_PIPELINE_INDEXES`): each partition is one index's whole range in one call, narrowed by date past
the cap, replaced atomically."""

import time
from datetime import date, datetime
from zoneinfo import ZoneInfo

import dagster as dg

from stock_pipeline import settings, sync_reference
from stock_pipeline.datasets import INDEX_BASIC, INDEX_CLASSIFY, INDEX_DATASETS, INDEX_MEMBER_ALL, TushareDataset
from stock_pipeline.defs import checks
from stock_pipeline.defs.indexes.partitions import index_codes
from stock_pipeline.defs.reference.assets import build_snapshot_asset
from stock_pipeline.defs.shared import KINDS, call_metadata, failing_clearly, partition_keys
from stock_pipeline.resources import TushareResource, WarehouseResource
from stock_pipeline.sync import FieldDrift

INDEXES_GROUP = "indexes"

index_snapshot_assets = [
    build_snapshot_asset(dataset, INDEXES_GROUP) for dataset in (INDEX_BASIC, INDEX_CLASSIFY, INDEX_MEMBER_ALL)
]


def build_index_asset(dataset: TushareDataset) -> dg.AssetsDefinition:
    @dg.asset(
        key=dataset.api_name,
        group_name=INDEXES_GROUP,
        kinds=KINDS,
        description=dataset.description,
        partitions_def=index_codes,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[INDEX_BASIC.api_name],
        pool=dataset.api_name,
        check_specs=[checks.upstream_fields_spec(dataset)],
        metadata={"row_cap": dataset.row_cap, "code_parameter": dataset.code_param},
    )
    def _asset(
        context: dg.AssetExecutionContext, tushare: TushareResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        client, store = tushare.client(warehouse), warehouse.open()
        start = date.fromisoformat(settings.start_date())
        end = datetime.now(ZoneInfo(settings.TIMEZONE)).date()
        rows: dict[str, int] = {}
        drift, started = FieldDrift(), time.monotonic()
        with failing_clearly(tushare):
            for code in partition_keys(context):
                report = sync_reference.sync_code_history(client, store, dataset, code, start, end)
                rows[code] = report.rows
                drift.missing |= report.drift.missing
                drift.extra |= report.drift.extra
        return dg.MaterializeResult(
            metadata={
                "rows": sum(rows.values()),
                "rows_per_index": ", ".join(f"{code}: {count}" for code, count in rows.items()),
                **checks.drift_metadata(drift.missing, drift.extra),
                **call_metadata(client, time.monotonic() - started),
            },
            check_results=[checks.upstream_fields_result(drift.missing, drift.extra)],
        )

    return _asset


index_history_assets = [build_index_asset(dataset) for dataset in INDEX_DATASETS]
