"""Tushare Pro A-share data synced into a SQLite or PostgreSQL warehouse by Dagster."""

import os
import warnings

import dagster as dg

if not os.environ.get("STOCK_PIPELINE_VERBOSE"):
    # Dagster warns at every load about the beta parameters the assets rely on (backfill_policy): noise that
    # buried users' own output. STOCK_PIPELINE_VERBOSE=1 shows them again.
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)

# `defs` at the package root: `dagster ... -m stock_pipeline` finds the code location here.
from stock_pipeline.definitions import defs
from stock_pipeline.reads.pro_api import pro_api
from stock_pipeline.reads.pro_bar import pro_bar
from stock_pipeline.reads.universe import universe

__all__ = ["defs", "pro_api", "pro_bar", "universe"]
