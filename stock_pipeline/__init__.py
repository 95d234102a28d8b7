"""Tushare Pro A-share data synced into a SQLite or PostgreSQL warehouse by Dagster."""

from stock_pipeline.definitions import defs
from stock_pipeline.reads.universe import universe

__all__ = ["defs", "universe"]
