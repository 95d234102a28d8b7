import dagster as dg

from stock_pipeline import settings

# The synced indexes, a documented list read from the environment (no database): one partition each.
index_codes = dg.StaticPartitionsDefinition(list(settings.index_codes()))
