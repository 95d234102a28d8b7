"""`tushare.pro_bar` for A-share daily bars, answered from the warehouse.

    import stock_pipeline as sp
    bars = sp.pro_bar("000001.SZ", start_date="20150101", end_date="20241231", adj="qfq", ma=[5, 10])

The same frame as `tushare.pro_bar(...)` (tushare 1.4.29, `tushare/pro/data_pro.py`) for `asset='E'` and
`freq='D'`, by the SDK's own steps on the same inputs (`daily` and `adj_factor` as `pro_api` answers them,
newest first):

- no `adj`: `pre_close` is recomputed as the next older bar's close (the service's ex-rights `pre_close` is
  dropped, and the oldest bar has none), then `change` and `pct_chg`;
- `adj='hfq'`: open, close, high, low and pre_close × the day's factor; `adj='qfq'`: × the day's factor / the
  first factor of the window's `adj_factor` answer, i.e. the newest one up to `end_date` (a factor of a
  suspended day counts); a bar without a factor takes the next older bar's; prices rounded to 2 decimals
  through `'%.2f'`, then `change` = close - pre_close and `pct_chg` rounded the same way; no factor in the
  window at all answers None, as the SDK does;
- `ma=[5, 10]`: `ma5`, `ma_v_5`, ... rolling means of close and vol over the bar and the older ones, rounded;
- `adjfactor=True` keeps the `adj_factor` column; `factors=['tor', 'vr']` adds `daily_basic`'s turnover_rate
  and volume_ratio; `fields='a,b'` selects columns.

Unlike the SDK, a failing call raises its own error at once instead of being printed and retried
`retry_count` times before `IOError('ERROR.')` (a local read has nothing transient to retry).
"""

import datetime
from typing import TYPE_CHECKING

from stock_pipeline.reads.pro_api import ProApi, pro_api

if TYPE_CHECKING:
    import pandas as pd

PRICE_COLUMNS = ["open", "close", "high", "low", "pre_close"]


def _two_decimals(value: float) -> str:
    return f"{value:.2f}"  # the SDK's FORMAT ('%.2f' % x): the binary value correctly rounded, 'nan' for NaN


def _moving_average(series: "pd.Series", window: int) -> "pd.Series":
    return series.rolling(window).mean()  # tushare.util.formula.MA


def pro_bar(
    ts_code: str = "",
    start_date: str = "",
    end_date: str = "",
    adj: str | None = None,
    freq: str = "D",
    asset: str = "E",
    exchange: str = "",
    ma: list[int] | None = None,
    factors: list[str] | None = None,
    adjfactor: bool = False,
    offset: int | None = None,
    limit: int | None = None,
    fields: str = "",
    contract_type: str = "",
    retry_count: int = 3,
    db_url: str | None = None,
    api: ProApi | None = None,
) -> "pd.DataFrame | None":
    """Daily A-share bars as `tushare.pro_bar` answers them (see the module doc); `api` is a `pro_api()`
    object (default: one over `db_url`). `exchange`, `contract_type` and `retry_count` exist for the SDK's
    signature (they concern other assets, or retries a local read does not need)."""
    freq = freq.strip().lower() if len(freq.strip()) >= 3 else freq.strip().upper()
    asset = asset.strip().upper()
    if asset != "E" or freq != "D":
        raise ValueError(
            f"pro_bar reads A-share daily bars only (asset='E', freq='D'), not asset={asset!r}, freq={freq!r}: "
            "the warehouse holds daily, adj_factor and daily_basic"
        )
    if adj not in (None, "qfq", "hfq"):
        raise ValueError(f"adj should be None, 'qfq' or 'hfq', not {adj!r}")
    if not (ts_code or "").strip() and adj is not None:
        raise ValueError(
            "adjusted bars need a ts_code (the SDK prints 提取复权行情必须输入ts_code参数 and answers None)"
        )
    today = str(datetime.datetime.today().date())[0:10]
    start_date = ("" if start_date is None else start_date).replace("-", "")
    end_date = (today if end_date == "" or end_date is None else end_date).replace("-", "")
    ts_code = ts_code.strip().upper()
    api = api if api is not None else pro_api(db_url)

    data = api.daily(ts_code=ts_code, start_date=start_date, end_date=end_date, offset=offset, limit=limit)
    if factors is not None and len(factors) > 0:
        basics = api.daily_basic(ts_code=ts_code, start_date=start_date, end_date=end_date)
        basics = basics[["trade_date", "turnover_rate", "volume_ratio"]].set_index("trade_date")
        data = data.set_index("trade_date").merge(basics, left_index=True, right_index=True).reset_index()
        if "tor" in factors and "vr" not in factors:
            data = data.drop("volume_ratio", axis=1)
        if "vr" in factors and "tor" not in factors:
            data = data.drop("turnover_rate", axis=1)
    if adj is not None:
        factor_rows = api.adj_factor(ts_code=ts_code, start_date=start_date, end_date=end_date)
        factor_rows = factor_rows[["trade_date", "adj_factor"]]
        if factor_rows.shape[0] == 0:
            return None
        data = data.set_index("trade_date", drop=False).merge(
            factor_rows.set_index("trade_date"), left_index=True, right_index=True, how="left"
        )
        data["adj_factor"] = data["adj_factor"].bfill()
        newest_factor = float(factor_rows["adj_factor"][0])
        for column in PRICE_COLUMNS:
            if adj == "hfq":
                data[column] = data[column] * data["adj_factor"]
            else:
                data[column] = data[column] * data["adj_factor"] / newest_factor
            data[column] = data[column].map(_two_decimals).astype(float)
        if adjfactor is False:
            data = data.drop("adj_factor", axis=1)
        data["change"] = data["close"] - data["pre_close"]
        data["pct_chg"] = data["change"] / data["pre_close"] * 100
        data["pct_chg"] = data["pct_chg"].map(_two_decimals).astype(float)
    else:
        data["pre_close"] = data["close"].shift(-1)
        data["change"] = data["close"] - data["pre_close"]
        data["pct_chg"] = data["change"] / data["pre_close"] * 100
        data["pct_chg"] = data["pct_chg"].map(_two_decimals).astype(float)
    for window in ma or []:
        if isinstance(window, int):
            data[f"ma{window}"] = _moving_average(data["close"], window).map(_two_decimals).shift(-(window - 1))
            data[f"ma{window}"] = data[f"ma{window}"].astype(float)
            data[f"ma_v_{window}"] = _moving_average(data["vol"], window).map(_two_decimals).shift(-(window - 1))
            data[f"ma_v_{window}"] = data[f"ma_v_{window}"].astype(float)
    data = data.reset_index(drop=True)
    if fields is not None and fields != "":
        data = data[[column.strip() for column in fields.split(",")]]
    return data
