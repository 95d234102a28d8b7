import dagster as dg

from stock_pipeline.defs.reference.assets import namechange, stock_basic, trade_cal
from stock_pipeline.defs.reference.jobs import reference_data_job

defs = dg.Definitions(assets=[trade_cal, stock_basic, namechange], jobs=[reference_data_job])
