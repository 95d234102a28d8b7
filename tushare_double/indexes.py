"""SYNTHETIC indexes computed from the synthetic market: index_basic, index_weight, index_daily, and the SW2021
industry classification with its members (index_classify, index_member_all).

- Constituents are chosen monthly, on the last trading day before the month's first trading day, by total market
  value (unadjusted price x total_share): 000300.SH the largest stocks of SSE/SZSE (no BSE), 000905.SH the next ones,
  399001.SZ the largest SZSE stocks, 399006.SZ the largest ChiNext stocks, each of a size scaled to the universe
  (300/500/500/100 per 5,000 stocks); 000001.SH holds every SSE main-board stock (and STAR from 2020-07-22). ST stocks
  and stocks listed for fewer than 20 trading days are left out, except from 000001.SH.
- index_weight: the month's constituents, dated its first trading day (as the doc_id=96 sample, 20180903), weight =
  market value share in % (4 decimals, summing to ~100).
- index_daily: a capitalisation-weighted return chain: on day t, r = sum(total_share x (close - pre_close)) /
  sum(total_share x pre_close) over the month's constituents, with the ex-rights pre_close of `daily` (so dividends
  do not move the index) and a return of 0 for a suspended constituent; close_t = close_{t-1} x (1 + r) from the
  base point on the first trading day on or after the base date. open/high/low chain the constituents' open/high/low
  the same way; vol and amount are the constituents' sums.
"""

import threading
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property
from pathlib import Path

import numpy as np

from tushare_double.synthetic import SyntheticMarket, _hash

STAR_IN_COMPOSITE_FROM = date(2020, 7, 22)
MIN_LISTED_DAYS = 20
CHAIN_BLOCK_DAYS = 256


@dataclass(frozen=True)
class IndexSpec:
    ts_code: str
    name: str
    fullname: str
    market: str
    publisher: str
    category: str
    base_date: str
    base_point: float
    list_date: str
    # Constituent rule: (boards, size per 5,000 stocks or None for all, rank offset in the same units).
    boards: tuple[str, ...]
    size: int | None = None
    skip: int = 0


SH_SZ = ("SSE_MAIN", "STAR", "SZSE_MAIN", "CHINEXT")
# Descriptions as index_basic shows them for the real indexes; the data under them is synthetic.
INDEXES = (
    IndexSpec("000001.SH", "上证指数", "上证综合指数", "SSE", "中证指数有限公司", "综合指数", "19901219", 100.0,
              "19910715", ("SSE_MAIN",)),
    IndexSpec("000300.SH", "沪深300", "沪深300指数", "SSE", "中证指数有限公司", "规模指数", "20041231", 1000.0,
              "20050408", SH_SZ, 300),
    IndexSpec("000905.SH", "中证500", "中证小盘500指数", "SSE", "中证指数有限公司", "规模指数", "20041231", 1000.0,
              "20070115", SH_SZ, 500, 300),
    IndexSpec("399001.SZ", "深证成指", "深证成份指数", "SZSE", "深圳证券信息有限公司", "规模指数", "19940720", 1000.0,
              "19950123", ("SZSE_MAIN", "CHINEXT"), 500),
    IndexSpec("399006.SZ", "创业板指", "创业板指数", "SZSE", "深圳证券信息有限公司", "规模指数", "20100531", 1000.0,
              "20100601", ("CHINEXT",), 100),
)  # fmt: skip
INDEX_BY_CODE = {spec.ts_code: spec for spec in INDEXES}

# stock_basic.industry (Tushare's own classification in the synthetic market) -> the SW2021 L1 a stock starts in.
INDUSTRY_TO_SW_L1 = {
    "银行": "480000",
    "软件服务": "710000",
    "半导体": "270000",
    "医药": "370000",
    "汽车配件": "280000",
    "化工原料": "220000",
    "电气设备": "630000",
    "食品": "340000",
    "房地产": "430000",
    "证券": "490000",
}
# SW2014 level 1 (doc_id=181 sample; industry codes as in SW2021 where retained). Only L1 is modelled for SW2014.
SW2014_L1 = (
    ("801010", "农林牧渔", "110000"), ("801020", "采掘", "210000"), ("801030", "化工", "220000"),
    ("801040", "钢铁", "230000"), ("801050", "有色金属", "240000"), ("801080", "电子", "270000"),
    ("801110", "家用电器", "330000"), ("801120", "食品饮料", "340000"), ("801130", "纺织服装", "350000"),
    ("801140", "轻工制造", "360000"), ("801150", "医药生物", "370000"), ("801160", "公用事业", "410000"),
    ("801170", "交通运输", "420000"), ("801180", "房地产", "430000"), ("801200", "商业贸易", "450000"),
    ("801210", "休闲服务", "460000"), ("801230", "综合", "510000"), ("801710", "建筑材料", "610000"),
    ("801720", "建筑装饰", "620000"), ("801730", "电气设备", "630000"), ("801740", "国防军工", "650000"),
    ("801750", "计算机", "710000"), ("801760", "传媒", "720000"), ("801770", "通信", "730000"),
    ("801780", "银行", "480000"), ("801790", "非银金融", "490000"), ("801880", "汽车", "280000"),
    ("801890", "机械设备", "640000"),
)  # fmt: skip
# Share of stocks that move to another SW L1 industry once.
INDUSTRY_CHANGE_SHARE = 0.08


def _yyyymmdd(day: date) -> str:
    return day.strftime("%Y%m%d")


def load_sw2021() -> list[dict]:
    """index_classify rows of SW2021 from sw2021.tsv (tushare.pro doc_id=181)."""
    rows = []
    path = Path(__file__).with_name("sw2021.tsv")
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        industry_code, code, l1, l2, l3, is_pub = line.split("\t")
        level = "L3" if l3 else "L2" if l2 else "L1"
        parent = "0" if level == "L1" else industry_code[:2] + "0000" if level == "L2" else industry_code[:4] + "00"
        name = l3 or l2 or l1
        rows.append(
            {
                "index_code": f"{code}.SI",
                "industry_name": name,
                "parent_code": parent,
                "level": level,
                "industry_code": industry_code,
                "is_pub": is_pub,
                "src": "SW2021",
            }
        )
    return rows


class SyntheticIndexes:
    def __init__(self, market: SyntheticMarket):
        self.market = market
        self._lock = threading.Lock()
        self._chains: dict[str, dict[str, np.ndarray]] = {}

    # -- index_basic ----------------------------------------------------------------------------------

    def basics(self) -> list[dict]:
        rows = [
            {
                "ts_code": spec.ts_code,
                "name": spec.name,
                "fullname": spec.fullname,
                "market": spec.market,
                "publisher": spec.publisher,
                "index_type": None,
                "category": spec.category,
                "base_date": spec.base_date,
                "base_point": spec.base_point,
                "list_date": spec.list_date,
                "weight_rule": "总市值加权",
                "desc": "合成指数：由合成样本股计算（虚构数据）",
                "exp_date": None,
            }
            for spec in INDEXES
        ]
        for row in self.classification:
            if row["level"] == "L1" and row["src"] == "SW2021":
                rows.append(
                    {
                        "ts_code": row["index_code"],
                        "name": row["industry_name"],
                        "fullname": f"申万{row['industry_name']}行业指数",
                        "market": "SW",
                        "publisher": "申万研究",
                        "index_type": None,
                        "category": "一级行业指数",
                        "base_date": "19991230",
                        "base_point": 1000.0,
                        "list_date": "19991230",
                        "weight_rule": None,
                        "desc": None,
                        "exp_date": None,
                    }
                )
        return rows

    # -- constituents ---------------------------------------------------------------------------------

    @cached_property
    def month_starts(self) -> list[int]:
        """Trading day index of each month's first trading day."""
        days, starts = self.market.calendar.open_days, []
        for t, day in enumerate(days):
            if t == 0 or day.month != days[t - 1].month:
                starts.append(t)
        return starts

    def _size(self, units: int) -> int:
        return max(3, round(units * len(self.market.index) / 5000))

    def members(self, spec: IndexSpec, start: int) -> tuple[np.ndarray, np.ndarray]:
        """(stocks, market values) of `spec` for the month starting at trading day `start`."""
        market = self.market
        chosen = max(start - 1, 0)
        day = market.calendar.open_days[start]
        boards = spec.boards + (("STAR",) if spec.ts_code == "000001.SH" and day >= STAR_IN_COMPOSITE_FROM else ())
        stocks = market.index[np.isin(market.board, boards)]
        eligible = (market.list_idx[stocks] <= chosen) & (chosen < market.delist_idx[stocks])
        eligible &= chosen < market.pause_idx[stocks]
        if spec.size is not None:
            eligible &= (market.list_idx[stocks] <= chosen - MIN_LISTED_DAYS) & ~market.is_st(chosen, stocks)
        stocks = stocks[eligible]
        value = market._price(chosen, stocks) / market._adj(chosen, stocks) * market.total_share[stocks]
        if spec.size is not None:
            order = np.argsort(-value, kind="stable")
            picked = order[self._size(spec.skip) if spec.skip else 0 :][: self._size(spec.size)]
            stocks, value = stocks[picked], value[picked]
        order = np.argsort(stocks)
        return stocks[order], value[order]

    def _month_start(self, t: int) -> int:
        from bisect import bisect_right

        return self.month_starts[bisect_right(self.month_starts, t) - 1]

    def _first_day(self, spec: IndexSpec) -> int:
        base = date(int(spec.base_date[:4]), int(spec.base_date[4:6]), int(spec.base_date[6:]))
        return self.market.calendar.first_open_on_or_after(base)

    def weights(self, spec: IndexSpec, first: int, last: int) -> list[dict]:
        """index_weight rows for the months whose first trading day is in [first, last]."""
        days, rows = self.market.calendar.open_days, []
        for start in self.month_starts:
            if start < max(first, self._first_day(spec)) or start > last:
                continue
            stocks, value = self.members(spec, start)
            if not len(stocks):
                continue
            weight = np.round(value / value.sum() * 100, 4)
            for code, share in zip(self.market.ts_code[stocks].tolist(), weight.tolist(), strict=True):
                rows.append({"index_code": spec.ts_code, "con_code": code, "trade_date": _yyyymmdd(days[start]),
                             "weight": share})  # fmt: skip
        return rows

    # -- index_daily ----------------------------------------------------------------------------------

    def chain(self, spec: IndexSpec, last: int) -> dict[str, np.ndarray]:
        """The index's daily bars from its base day through trading day `last` (cached, extended on demand)."""
        with self._lock:
            cached = self._chains.get(spec.ts_code)
            if cached is not None and cached["last"] >= last:
                return cached
            first = self._first_day(spec)
            names = ("close", "open", "high", "low", "vol", "amount")
            parts = {name: [cached[name]] if cached else [] for name in names}
            level = float(cached["close"][-1]) if cached is not None and len(cached["close"]) else spec.base_point
            begin = first + (len(cached["close"]) if cached is not None else 0)
            for block in range(begin, last + 1, CHAIN_BLOCK_DAYS):
                days = np.arange(block, min(block + CHAIN_BLOCK_DAYS, last + 1))
                level, bars = self._block(spec, days, level, first)
                for name in names:
                    parts[name].append(bars[name])
            chain = {name: np.concatenate(parts[name]) if parts[name] else np.zeros(0) for name in names}
            chain["first"], chain["last"] = first, max(last, first - 1)
            self._chains[spec.ts_code] = chain
            return chain

    def _block(self, spec: IndexSpec, days: np.ndarray, level: float, first: int) -> tuple[float, dict]:
        """Chain the index over consecutive trading days `days`, starting from the close `level` before them."""
        market = self.market
        months = [max(self._month_start(t), first) for t in days.tolist()]
        sets = {month: self.members(spec, month)[0] for month in dict.fromkeys(months)}
        stocks = np.unique(np.concatenate(list(sets.values())))
        chosen = {month: np.isin(stocks, members) for month, members in sets.items()}
        member = np.array([chosen[month] for month in months]).reshape(len(days), len(stocks))
        t = days[:, None]
        bars = market.bars(t, stocks)
        listed = member & market.listed_mask(t, stocks)
        traded = listed & bars["traded"]
        idle = listed & ~bars["traded"]
        shares = market.total_share[stocks]
        weight = np.where(traded, shares * bars["pre_close"], 0.0)
        weight += np.where(idle, shares * market._price(t - 1, stocks) / market._adj(t, stocks), 0.0)
        total = weight.sum(axis=1)
        safe = np.where(total > 0, total, 1.0)

        def relative(prices: np.ndarray) -> np.ndarray:
            moved = np.where(traded, shares * (prices - bars["pre_close"]), 0.0).sum(axis=1)
            return 1 + np.where(total > 0, moved / safe, 0.0)

        closes = level * np.cumprod(relative(bars["close"]))
        previous = np.concatenate([[level], closes[:-1]])
        opens = previous * relative(bars["open"])
        highs = np.maximum.reduce([closes, opens, previous * relative(bars["high"])])
        lows = np.minimum.reduce([closes, opens, previous * relative(bars["low"])])
        return float(closes[-1]), {
            "close": closes,
            "open": opens,
            "high": highs,
            "low": lows,
            "vol": np.where(traded, bars["vol"], 0.0).sum(axis=1),
            "amount": np.where(traded, bars["amount"], 0.0).sum(axis=1),
        }

    def daily(self, spec: IndexSpec, days: list[int]) -> list[dict]:
        """index_daily rows of `spec` on trading days `days` (from its base day on)."""
        if not days:
            return []
        chain = self.chain(spec, max(days))
        first, calendar, rows = chain["first"], self.market.calendar.open_days, []
        for t in days:
            if t < first:
                continue
            k = t - first
            close = round(float(chain["close"][k]), 4)
            pre_close = round(float(chain["close"][k - 1]) if k else spec.base_point, 4)
            change = round(close - pre_close, 4)
            rows.append(
                {
                    "ts_code": spec.ts_code,
                    "trade_date": _yyyymmdd(calendar[t]),
                    "close": close,
                    "open": round(float(chain["open"][k]), 4),
                    "high": round(float(chain["high"][k]), 4),
                    "low": round(float(chain["low"][k]), 4),
                    "pre_close": pre_close,
                    "change": change,
                    "pct_chg": round(change / pre_close * 100, 4),
                    "vol": round(float(chain["vol"][k]), 2),
                    "amount": round(float(chain["amount"][k]), 3),
                }
            )
        return rows

    # -- SW classification ----------------------------------------------------------------------------

    @cached_property
    def classification(self) -> list[dict]:
        sw2014 = [
            {"index_code": f"{code}.SI", "industry_name": name, "parent_code": "0", "level": "L1",
             "industry_code": industry, "is_pub": "1", "src": "SW2014"}
            for code, name, industry in SW2014_L1
        ]  # fmt: skip
        return sw2014 + load_sw2021()

    @cached_property
    def _sw2021_paths(self) -> dict[str, list[dict]]:
        """Every SW2021 L3 with its L2 and L1, grouped by L1 industry code."""
        rows = [row for row in self.classification if row["src"] == "SW2021"]
        by_code = {row["industry_code"]: row for row in rows}
        paths: dict[str, list[dict]] = {}
        for row in rows:
            if row["level"] != "L3":
                continue
            l2 = by_code[row["parent_code"]]
            l1 = by_code[l2["parent_code"]]
            paths.setdefault(l1["industry_code"], []).append(
                {"l1_code": l1["index_code"], "l1_name": l1["industry_name"], "l2_code": l2["index_code"],
                 "l2_name": l2["industry_name"], "l3_code": row["index_code"], "l3_name": row["industry_name"]}
            )  # fmt: skip
        return paths

    def memberships(self, stock: int) -> list[tuple[int, dict]]:
        """(first trading day, SW2021 path) of each industry the stock belongs to, in time order: its listing
        industry (from stock_basic.industry) and, for some stocks, one later move to another L1."""
        market, paths = self.market, self._sw2021_paths
        seed = market.seed
        l1 = INDUSTRY_TO_SW_L1[str(market.industry[stock])]
        options = paths[l1]
        first = options[int(_hash(seed, 61, stock) * len(options))]
        result = [(int(market.list_idx[stock]), first)]
        last = min(int(market.delist_idx[stock]), len(market.calendar.open_days)) - 1
        moved = int(market.list_idx[stock]) + 200 + int(3000 * _hash(seed, 62, stock))
        if _hash(seed, 63, stock) < INDUSTRY_CHANGE_SHARE and moved < last:
            others = sorted(code for code in paths if code != l1)
            other = paths[others[int(_hash(seed, 64, stock) * len(others))]]
            result.append((moved, other[int(_hash(seed, 65, stock) * len(other))]))
        return result

    def members_all(self, today: date) -> list[dict]:
        """index_member_all rows known on `today`: one row per (stock, industry) with in_date (listing or move day),
        out_date (the day of the move: a row covers in_date <= d < out_date) and is_new; the name is the stock's
        current one, with '(退市)' appended once delisted (as in the doc_id=335 sample)."""
        market, days = self.market, self.market.calendar.open_days
        today_idx = market.calendar.first_open_on_or_after(today + timedelta(days=1)) - 1
        rows = []
        for stock in market.index.tolist():
            if market.list_idx[stock] > today_idx:
                continue
            name = market.name_on(stock, today_idx)
            if market.delist_idx[stock] <= today_idx:
                name += "(退市)"
            known = [(start, path) for start, path in self.memberships(stock) if start <= today_idx]
            for k, (start, path) in enumerate(known):
                following = known[k + 1][0] if k + 1 < len(known) else None
                rows.append(
                    path
                    | {
                        "ts_code": str(market.ts_code[stock]),
                        "name": name,
                        "in_date": _yyyymmdd(days[start]),
                        "out_date": _yyyymmdd(days[following]) if following is not None else None,
                        "is_new": "N" if following is not None else "Y",
                    }
                )
        return rows
