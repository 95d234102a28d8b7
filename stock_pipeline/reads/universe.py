"""The point-in-time universe of a backtest day: every stock listed that day and what was known of it.

    import stock_pipeline as sp
    stocks = sp.universe("2015-07-08")

One row per stock listed on the day (listed on or before it, not yet delisted; stocks delisted later
are included), with its name and ST flag as announced by then (`namechange`), whether it was suspended
for the whole day (`suspend_d`), its price limits (`stk_limit`), its SW level-1 industry that day
(`index_member_all`), board, exchange, listing and delisting dates. Nothing announced after the day is
read: a name or ST flag announced later does not show.
"""

from datetime import date
from typing import TYPE_CHECKING

import sqlalchemy as sa

from stock_pipeline import settings
from stock_pipeline.database import create_engine

if TYPE_CHECKING:
    import pandas as pd

# Name prefixes of stocks under special treatment (ST, *ST, and the S-prefixed forms used for stocks
# that had not completed the 2005-2006 share reform).
ST_PREFIXES = ("ST", "*ST", "SST", "S*ST")

UNIVERSE_SQL = """
WITH listed AS (
    SELECT ts_code, name AS current_name, market AS board, exchange, list_date, delist_date
    FROM stock_basic
    WHERE list_date <= :day AND (delist_date IS NULL OR delist_date > :day)
),
names AS (
    SELECT ts_code, name, ROW_NUMBER() OVER (
        PARTITION BY ts_code ORDER BY start_date DESC, COALESCE(ann_date, start_date) DESC, name
    ) AS newest
    FROM namechange
    WHERE start_date <= :day AND COALESCE(ann_date, start_date) <= :day
      AND (end_date IS NULL OR end_date >= :day)
),
industries AS (
    SELECT ts_code, l1_name, ROW_NUMBER() OVER (PARTITION BY ts_code ORDER BY in_date DESC, l1_code) AS newest
    FROM index_member_all
    WHERE in_date <= :day AND (out_date IS NULL OR out_date >= :day)
)
SELECT
    listed.ts_code,
    names.name,
    listed.board,
    listed.exchange,
    listed.list_date,
    listed.delist_date,
    CASE WHEN suspended.ts_code IS NULL THEN 0 ELSE 1 END AS is_suspended,
    stk_limit.up_limit,
    stk_limit.down_limit,
    industries.l1_name AS industry
FROM listed
LEFT JOIN names ON names.ts_code = listed.ts_code AND names.newest = 1
LEFT JOIN industries ON industries.ts_code = listed.ts_code AND industries.newest = 1
LEFT JOIN (
    SELECT DISTINCT ts_code FROM suspend_d
    WHERE trade_date = :day AND suspend_type = 'S' AND suspend_timing IS NULL
) AS suspended ON suspended.ts_code = listed.ts_code
LEFT JOIN stk_limit ON stk_limit.ts_code = listed.ts_code AND stk_limit.trade_date = :day
ORDER BY listed.ts_code
"""

COLUMNS = [
    "ts_code",
    "name",
    "is_st",
    "is_suspended",
    "up_limit",
    "down_limit",
    "industry",
    "board",
    "exchange",
    "list_date",
    "delist_date",
]


def universe(trade_date: date | str, db_url: str | None = None) -> "pd.DataFrame":
    """Every stock listed on `trade_date`, as known on that date (see the module doc)."""
    # pandas (and numpy under it) loads only for reads: the sync processes never need it.
    import pandas as pd

    day = date.fromisoformat(str(trade_date)) if not isinstance(trade_date, date) else trade_date
    engine = create_engine(db_url or settings.db_url())
    try:
        with engine.connect() as conn:
            frame = pd.read_sql_query(sa.text(UNIVERSE_SQL), conn, params={"day": day})
    finally:
        engine.dispose()
    frame["is_suspended"] = frame["is_suspended"].astype(bool)
    frame["is_st"] = frame["name"].fillna("").str.upper().str.startswith(ST_PREFIXES)
    for column in ("list_date", "delist_date"):
        frame[column] = pd.to_datetime(frame[column]).dt.date
    return frame[COLUMNS]
