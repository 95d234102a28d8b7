"""The code location: every domain's definitions (`stock_pipeline/defs/<domain>`) with the shared resources."""

import dagster as dg

from stock_pipeline.datasets import ALL_DATASETS
from stock_pipeline.defs.exports import definitions as exports
from stock_pipeline.defs.financials import definitions as financials
from stock_pipeline.defs.indexes import definitions as indexes
from stock_pipeline.defs.market import definitions as market
from stock_pipeline.defs.operations import definitions as operations
from stock_pipeline.defs.reference import definitions as reference
from stock_pipeline.resources import SyncPolicyResource, TushareResource, WarehouseResource

# Steps wait on the Tushare budget, not on the CPU: every dataset of a run fetches at once, each spending its
# own per-API budget, whatever the core count (the executor's default, one step per core, left the third of
# three datasets waiting for the first). A step is a process of about 150 MB.
io_bound_executor = dg.multiprocess_executor.configured({"max_concurrent": len(ALL_DATASETS)})

defs = dg.Definitions.merge(
    reference.defs,
    market.defs,
    financials.defs,
    indexes.defs,
    exports.defs,
    operations.defs,
    dg.Definitions(
        executor=io_bound_executor,
        resources={
            "tushare": TushareResource(),
            "warehouse": WarehouseResource(),
            "sync_policy": SyncPolicyResource(),
        },
    ),
)
