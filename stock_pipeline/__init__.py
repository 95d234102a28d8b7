"""Tushare Pro A-share data synced into a SQLite or PostgreSQL warehouse by Dagster."""

from stock_pipeline.definitions import defs

__all__ = ["defs"]
