from stock_pipeline.tushare.client import CallStats, TushareClient, TushareFrame
from stock_pipeline.tushare.errors import TushareError, TushareNotPublishedError
from stock_pipeline.tushare.rate_limit import CallBudget

__all__ = [
    "CallBudget",
    "CallStats",
    "TushareClient",
    "TushareError",
    "TushareFrame",
    "TushareNotPublishedError",
]
