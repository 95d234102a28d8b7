"""SQL views for people who query the warehouse directly.

`daily_hfq`: one row per bar that has its adjustment factor (`daily` joined to `adj_factor` on ts_code and
trade_date), with the back-adjusted (hfq) prices Tushare defines, price × adj_factor, for open, high, low,
close and pre_close, and the factor itself. `trade_date` stays a DATE. The products are not rounded (pro_bar
rounds its hfq prices to 2 decimals); vol and amount are raw in `daily`.

    SELECT trade_date, close FROM daily_hfq WHERE ts_code = '000001.SZ' ORDER BY trade_date
"""

import hashlib

import sqlalchemy as sa

from stock_pipeline.database import lock_schema
from stock_pipeline.warehouse import TABLES, warehouse_meta

DAILY_HFQ = "daily_hfq"
HFQ_PRICES = ("open", "high", "low", "close", "pre_close")


def daily_hfq() -> sa.Select:
    daily, factors = TABLES["daily"], TABLES["adj_factor"]
    return sa.select(
        daily.c.ts_code,
        daily.c.trade_date,
        *((daily.c[price] * factors.c.adj_factor).label(price) for price in HFQ_PRICES),
        factors.c.adj_factor,
    ).select_from(
        daily.join(factors, sa.and_(factors.c.ts_code == daily.c.ts_code, factors.c.trade_date == daily.c.trade_date))
    )


def create_daily_hfq_view(engine: sa.Engine) -> None:
    """Create the `daily_hfq` view, or replace it when its definition changed since it was created."""
    body = str(daily_hfq().compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    digest = hashlib.sha256(body.encode()).hexdigest()
    key = f"view:{DAILY_HFQ}"
    with engine.begin() as conn:
        lock_schema(conn)
        exists = DAILY_HFQ in sa.inspect(conn).get_view_names()
        recorded = conn.execute(sa.select(warehouse_meta.c.value).where(warehouse_meta.c.key == key)).scalar()
        if exists and recorded == digest:
            return
        conn.exec_driver_sql(f"DROP VIEW IF EXISTS {DAILY_HFQ}")
        conn.exec_driver_sql(f"CREATE VIEW {DAILY_HFQ} AS {body}")
        conn.execute(warehouse_meta.delete().where(warehouse_meta.c.key == key))
        conn.execute(warehouse_meta.insert().values(key=key, value=digest))
