"""Exports of the warehouse for research tools: a qlib data folder (`qlib.py`) and Parquet datasets
(`parquet.py`), both refusing to export a date that fails its checks (`quality.py`).

    python -m stock_pipeline.export qlib --out DIR [--start YYYY-MM-DD] [--end YYYY-MM-DD] [--db-url URL]
    python -m stock_pipeline.export parquet --out DIR [--db-url URL]
"""

from stock_pipeline.export.common import ExportError
from stock_pipeline.export.parquet import ParquetExportReport, export_parquet
from stock_pipeline.export.qlib import QlibExportReport, export_qlib

__all__ = ["ExportError", "ParquetExportReport", "QlibExportReport", "export_parquet", "export_qlib"]
