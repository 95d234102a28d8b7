"""Exports of the warehouse for research tools: a qlib data folder (`qlib.py`) and Parquet datasets
(`parquet.py`), both refusing to export a date that fails its checks (`quality.py`).

    python -m stock_pipeline.export qlib --out DIR [--start YYYY-MM-DD] [--end YYYY-MM-DD] [--db-url URL]
    python -m stock_pipeline.export parquet --out DIR [--db-url URL]
"""

import importlib

# Loaded on first use: numpy and pyarrow stay out of every process that only imports `export.common`
# (the code location's sync steps).
_EXPORTS = {
    "ExportError": "stock_pipeline.export.common",
    "ParquetExportReport": "stock_pipeline.export.parquet",
    "export_parquet": "stock_pipeline.export.parquet",
    "QlibExportReport": "stock_pipeline.export.qlib",
    "export_qlib": "stock_pipeline.export.qlib",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'stock_pipeline.export' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
