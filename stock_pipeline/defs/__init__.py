"""The Dagster layer, one folder per domain, each with its assets, partitions, jobs and automation:
reference data, market data, financials, indexes, exports, and operations (alerts). Each domain's
`definitions.py` holds its `defs`; `stock_pipeline.definitions` merges them with the resources."""
