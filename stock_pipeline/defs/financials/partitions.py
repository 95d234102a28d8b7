"""Stock-batch partitions of the per-stock datasets (statements, dividends)."""

import zlib

import dagster as dg

# Statements and dividends are partitioned by stock batch. A stock's batch is a hash of its code, so it
# never moves as the stock list grows; the batch's stocks are read from `stock_basic` at run time.
# Changing the count reshuffles every stock: it is fixed here, not configured.
STOCK_BATCH_COUNT = 32
stock_batches = dg.StaticPartitionsDefinition([f"batch_{index:02d}" for index in range(STOCK_BATCH_COUNT)])


def batch_of(ts_code: str) -> str:
    return f"batch_{zlib.crc32(ts_code.encode()) % STOCK_BATCH_COUNT:02d}"
