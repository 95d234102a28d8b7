"""Environment-driven settings shared by the code location, the resources and the scripts.

Only names and defaults live here; values are read where they are used so that `dg.EnvVar` can keep
secrets out of run config and the UI.
"""

import os
import re
from pathlib import Path

TUSHARE_TOKEN_ENV = "TUSHARE_TOKEN"
TUSHARE_API_URL_ENV = "TUSHARE_API_URL"
DB_URL_ENV = "STOCK_PIPELINE_DB_URL"
DATA_DIR_ENV = "STOCK_PIPELINE_DATA_DIR"
START_DATE_ENV = "STOCK_PIPELINE_START_DATE"

# The base URL the official `tushare` 1.4.x client posts to (`<base>/<api_name>`).
OFFICIAL_TUSHARE_API_URL = "http://api.waditu.com/dataapi"

# The first trading day of the Shanghai Stock Exchange; Tushare's daily history starts here.
DEFAULT_START_DATE = "1990-12-19"

TIMEZONE = "Asia/Shanghai"


def data_dir() -> Path:
    """Local folder for the embedded SQLite warehouse (default `./data` under the working directory)."""
    return Path(os.environ.get(DATA_DIR_ENV) or Path.cwd() / "data")


def default_db_url() -> str:
    return f"sqlite:///{data_dir() / 'warehouse.db'}"


def db_url() -> str:
    return os.environ.get(DB_URL_ENV) or default_db_url()


def tushare_api_url() -> str:
    return os.environ.get(TUSHARE_API_URL_ENV) or OFFICIAL_TUSHARE_API_URL


def start_date() -> str:
    return os.environ.get(START_DATE_ENV) or DEFAULT_START_DATE


DAILY_SYNC_TIME_ENV = "STOCK_PIPELINE_DAILY_SYNC_TIME"
# After daily_basic, the last of the market datasets, is published (17:00 Asia/Shanghai).
DEFAULT_DAILY_SYNC_TIME = "18:00"


def daily_sync_time() -> tuple[int, int]:
    """(hour, minute) of the daily incremental sync, Asia/Shanghai."""
    value = os.environ.get(DAILY_SYNC_TIME_ENV) or DEFAULT_DAILY_SYNC_TIME
    try:
        hour, minute = (int(part) for part in value.split(":"))
    except ValueError:
        raise ValueError(f"{DAILY_SYNC_TIME_ENV}={value!r}: expected HH:MM, e.g. 18:00") from None
    if not (0 <= hour < 24 and 0 <= minute < 60):
        raise ValueError(f"{DAILY_SYNC_TIME_ENV}={value!r}: expected HH:MM, e.g. 18:00")
    return hour, minute


CALLS_PER_MINUTE_ENV = "STOCK_PIPELINE_CALLS_PER_MINUTE"


def calls_per_minute() -> int | None:
    """Tushare calls per minute per API for the whole deployment; None: the points tier's (see rate_limit)."""
    value = os.environ.get(CALLS_PER_MINUTE_ENV)
    if not value:
        return None
    if not value.isdigit():
        raise ValueError(f"{CALLS_PER_MINUTE_ENV}={value!r}: expected a whole number (0 = unlimited)")
    return int(value)


INDEXES_ENV = "STOCK_PIPELINE_INDEXES"
# SSE Composite, CSI 300, CSI 500, SZSE Component, ChiNext: the benchmarks most backtests need.
DEFAULT_INDEXES = ("000001.SH", "000300.SH", "000905.SH", "399001.SZ", "399006.SZ")


def index_codes() -> tuple[str, ...]:
    """Indexes whose bars and weights are synced (comma-separated codes), one partition each."""
    value = os.environ.get(INDEXES_ENV)
    codes = tuple(code.strip().upper() for code in value.split(",") if code.strip()) if value else DEFAULT_INDEXES
    malformed = [code for code in codes if not re.fullmatch(r"\d{6}\.(SH|SZ|SI|CSI)", code)]
    if malformed:
        raise ValueError(f"{INDEXES_ENV}: {malformed} are not index codes like 000300.SH or 399006.SZ")
    return codes
