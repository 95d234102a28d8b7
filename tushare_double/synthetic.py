"""Deterministic SYNTHETIC A-share market data for the bundled Tushare-compatible server.

Nothing here is real market data. It is shaped like it, so that a sync can be tested end to end:
codes per board (.SH/.SZ/.BJ), listings and delistings, suspended listings, trading suspensions,
ex-dividend steps in `adj_factor` with the matching ex-rights `pre_close`, and daily moves that stay
inside each board's price limit. Every value is a pure function of (seed, stock, trading day), so any
date can be generated on demand, in any order, and always the same.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property, partial

import numpy as np

FIRST_TRADING_DAY = date(1990, 12, 19)
# Percentage price limit, first listing date, volatility scale and share of listings, per board.
BOARDS = {
    "SSE_MAIN": {
        "market": "主板",
        "exchange": "SSE",
        "suffix": "SH",
        "prefixes": ("600", "601", "603", "605"),
        "limit": 0.10,
        "opens": date(1990, 12, 19),
        "scale": 1.0,
        "weight": 0.38,
    },
    "SZSE_MAIN": {
        "market": "主板",
        "exchange": "SZSE",
        "suffix": "SZ",
        "prefixes": ("000", "001", "002", "003"),
        "limit": 0.10,
        "opens": date(1991, 4, 3),
        "scale": 1.0,
        "weight": 0.28,
    },
    "CHINEXT": {
        "market": "创业板",
        "exchange": "SZSE",
        "suffix": "SZ",
        "prefixes": ("300", "301"),
        "limit": 0.20,
        "opens": date(2009, 10, 30),
        "scale": 2.0,
        "weight": 0.18,
    },
    "STAR": {
        "market": "科创板",
        "exchange": "SSE",
        "suffix": "SH",
        "prefixes": ("688",),
        "limit": 0.20,
        "opens": date(2019, 7, 22),
        "scale": 2.0,
        "weight": 0.10,
    },
    "BSE": {
        "market": "北交所",
        "exchange": "BSE",
        "suffix": "BJ",
        "prefixes": ("920",),
        "limit": 0.30,
        "opens": date(2021, 11, 15),
        "scale": 3.0,
        "weight": 0.06,
    },
}
AREAS = ("北京", "上海", "深圳", "浙江", "江苏", "广东", "山东", "四川", "湖北", "福建")
INDUSTRIES = ("银行", "软件服务", "半导体", "医药", "汽车配件", "化工原料", "电气设备", "食品", "房地产", "证券")
SUSPENSION_BLOCK_DAYS = 3
DIVIDEND_INTERVAL_DAYS = 244
# Price limits exist from 1996-12-16 (REF §6.4); ChiNext moved from 10 % to 20 % on 2020-08-24; main-board ST/*ST stocks
# have a 5 % limit, raised to 10 % from 2025-07-07 (REF §6.4 gives the 2025-06-27 proposal; the effective date is
# background knowledge [?]). ST episodes only start once *ST exists (2003) and only on main-board stocks, whose
# synthetic daily moves stay within 5 % (ChiNext ST would need 5 % before 2020).
PRICE_LIMITS_FROM = date(1996, 12, 16)
CHINEXT_20_FROM = date(2020, 8, 24)
ST_10_FROM = date(2025, 7, 7)
ST_EPISODES_FROM = date(2003, 5, 1)
MAIN_BOARDS = ("SSE_MAIN", "SZSE_MAIN")
# namechange: listing rows of stocks listed before 2000 carry no ann_date, as old real rows do (REF §4.8: a date filter
# drops rows whose ann_date is null).
NAMECHANGE_ANN_FROM = date(2000, 1, 1)
# Share of (traded stock, day) pairs with an intraday suspension (suspend_d S with a suspend_timing, DOC-214 sample).
INTRADAY_SUSPENSION_SHARE = 0.002


def _hash(*parts: np.ndarray | int) -> np.ndarray:
    """A vectorised integer hash mapped to floats in [0, 1); multiplication wraps by design."""
    value = np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        for part in parts:
            value = value ^ (np.asarray(part, dtype=np.uint64) + np.uint64(0x632BE59BD9B4E019))
            value = value * np.uint64(0xBF58476D1CE4E5B9)
            value = value ^ (value >> np.uint64(31))
    return (value >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _holidays(year: int) -> set[date]:
    """Synthetic exchange holidays: fixed-date ones plus a spring festival week that drifts by year."""
    spring = date(year, 1, 21) + timedelta(days=(year * 11) % 27)
    days = {date(year, 1, 1), date(year, 4, 5)}
    days |= {spring + timedelta(days=offset) for offset in range(7)}
    days |= {date(year, 5, day) for day in (1, 2, 3)}
    days |= {date(year, 10, day) for day in range(1, 8)}
    return days


def limit_prices(pre_close: np.ndarray, pct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Up and down limit prices: pre_close x (1 +/- pct) rounded half up to 0.01, as the exchanges publish them."""
    up = np.floor(np.asarray(pre_close) * (1 + pct) * 100 + 0.5 + 1e-9) / 100
    down = np.floor(np.asarray(pre_close) * (1 - pct) * 100 + 0.5 + 1e-9) / 100
    return np.round(up, 2), np.round(down, 2)


@dataclass(frozen=True)
class NameEvent:
    """One namechange row before its end_date is known: effective from trading day `start`, announced on `ann`."""

    start: int
    ann: int | None
    name: str
    reason: str


@dataclass(frozen=True)
class Calendar:
    days: tuple[date, ...]
    is_open: tuple[bool, ...]

    @classmethod
    def build(cls, last_day: date) -> "Calendar":
        days, flags = [], []
        holidays: set[date] = set()
        for year in range(FIRST_TRADING_DAY.year, last_day.year + 1):
            holidays |= _holidays(year)
        day = FIRST_TRADING_DAY
        while day <= last_day:
            days.append(day)
            flags.append(day.weekday() < 5 and day not in holidays)
            day += timedelta(days=1)
        return cls(tuple(days), tuple(flags))

    @cached_property
    def open_days(self) -> tuple[date, ...]:
        return tuple(day for day, flag in zip(self.days, self.is_open, strict=True) if flag)

    @cached_property
    def open_index(self) -> dict[date, int]:
        return {day: index for index, day in enumerate(self.open_days)}

    def first_open_on_or_after(self, day: date) -> int:
        from bisect import bisect_left

        return bisect_left(self.open_days, day)


class SyntheticMarket:
    """A synthetic universe of `n_stocks` A-shares over a synthetic exchange calendar."""

    def __init__(self, n_stocks: int = 5000, seed: int = 20240101, calendar_until: date | None = None):
        self.seed = seed
        self.calendar = Calendar.build(calendar_until or date(datetime.now().year + 1, 12, 31))
        self._build_universe(n_stocks)
        self._build_names()
        self._dividend_cache: dict[int, list[dict]] = {}

    def _build_universe(self, n: int) -> None:
        rng = np.random.default_rng(self.seed)
        names = list(BOARDS)
        board = rng.choice(len(names), size=n, p=[BOARDS[b]["weight"] for b in names])
        horizon = self.calendar.first_open_on_or_after(date(2026, 6, 30))
        codes, list_idx = [], np.zeros(n, dtype=np.int64)
        counters = {b: 0 for b in names}
        for i in range(n):
            spec = BOARDS[names[board[i]]]
            number = counters[names[board[i]]]
            counters[names[board[i]]] += 1
            prefix = spec["prefixes"][number // 999 % len(spec["prefixes"])]
            codes.append(f"{prefix}{number % 999 + 1:03d}.{spec['suffix']}")
            opens = self.calendar.first_open_on_or_after(spec["opens"])
            # Listings grow over time, as on the real exchanges.
            list_idx[i] = opens + int((horizon - opens) * rng.random() ** 0.6)
        if len(set(codes)) != n:
            raise ValueError(f"{n} stocks exceed the synthetic code ranges; use at most 4000")
        order = np.argsort(codes)
        self.ts_code = np.array(codes)[order]
        self.board = np.array([names[b] for b in board])[order]
        self.list_idx = list_idx[order]
        n_days = len(self.calendar.open_days)
        never = np.int64(n_days + 10)
        delisted = rng.random(n) < 0.08
        self.delist_idx = np.where(delisted, self.list_idx + 250 + (rng.random(n) * 4000).astype(np.int64), never)
        # A few stocks have their listing suspended (status P): no trading from that day on.
        suspended = (~delisted) & (rng.random(n) < 0.01)
        self.pause_idx = np.where(suspended, self.list_idx + 120 + (rng.random(n) * 3000).astype(np.int64), never)
        self.limit = np.array([BOARDS[b]["limit"] for b in self.board])
        scale = np.array([BOARDS[b]["scale"] for b in self.board])
        self.base_price = np.exp(rng.uniform(np.log(3.0), np.log(60.0), n))
        self.drift = rng.uniform(-0.0004, 0.0006, n) * scale
        self.frequency = rng.uniform(0.01, 0.08, n)
        self.amplitude = (0.008 * scale / self.frequency) * rng.uniform(0.2, 1.0, n)
        self.phase = rng.uniform(0, 2 * np.pi, n)
        self.jitter = 0.005 * scale * rng.uniform(0.3, 1.0, n)
        self.dividend_offset = rng.integers(20, DIVIDEND_INTERVAL_DAYS, n)
        self.dividend_rate = rng.uniform(0.005, 0.06, n)
        self.total_share = np.round(rng.uniform(1e4, 5e5, n), 4)  # 10k shares
        self.float_share = np.round(self.total_share * rng.uniform(0.4, 1.0, n), 4)
        self.free_share = np.round(self.float_share * rng.uniform(0.5, 0.95, n), 4)
        self.eps = rng.normal(0.4, 0.5, n)  # negative for loss makers: pe is null
        self.bps = rng.uniform(1.0, 20.0, n)
        self.sales_ps = rng.uniform(0.5, 30.0, n)
        self.turnover_base = rng.uniform(0.2, 4.0, n)
        self.area = np.array(AREAS)[rng.integers(0, len(AREAS), n)]
        self.industry = np.array(INDUSTRIES)[rng.integers(0, len(INDUSTRIES), n)]
        self.index = np.arange(n)

    # -- reference data ------------------------------------------------------------------------------

    def day_index(self, day: date) -> int | None:
        return self.calendar.open_index.get(day)

    def stocks(self, today: date) -> list[dict]:
        """stock_basic as known on `today`: stocks listed by then, with their status that day."""
        today_idx = self.calendar.first_open_on_or_after(today + timedelta(days=1)) - 1
        days = self.calendar.open_days
        rows = []
        for i in np.flatnonzero(self.list_idx <= today_idx):
            board = BOARDS[self.board[i]]
            code = self.ts_code[i]
            if self.delist_idx[i] <= today_idx:
                status, delist = "D", days[self.delist_idx[i]].strftime("%Y%m%d")
            elif self.pause_idx[i] <= today_idx:
                status, delist = "P", None
            else:
                status, delist = "L", None
            number = int(i) + 1
            rows.append(
                {
                    "ts_code": code,
                    "symbol": code[:6],
                    "name": self.name_on(int(i), today_idx),
                    "area": str(self.area[i]),
                    "industry": str(self.industry[i]),
                    "fullname": f"合成样本{number:04d}股份有限公司（虚构）",
                    "enname": f"Synthetic Sample {number:04d} Co., Ltd. (fictitious)",
                    "cnspell": f"hc{number:04d}",
                    "market": board["market"],
                    "exchange": board["exchange"],
                    "curr_type": "CNY",
                    "list_status": status,
                    "list_date": days[self.list_idx[i]].strftime("%Y%m%d"),
                    "delist_date": delist,
                    "is_hs": "N",
                    "act_name": None,
                    "act_ent_type": None,
                }
            )
        return rows

    # -- names, ST episodes and price limits ----------------------------------------------------------

    def _build_names(self) -> None:
        """Name history per stock: the listing name ('其他'), some renames ('改名') and, on main-board stocks only,
        ST episodes ('ST', '*ST', '撤销ST', '撤销*ST'); delisted main-board stocks often go *ST before delisting.
        Each change is announced 0-3 trading days before it takes effect (real 002005.SZ rows: ann 1-3 days before)."""
        calendar, seed = self.calendar, self.seed
        n_days = len(calendar.open_days)
        st_from = calendar.first_open_on_or_after(ST_EPISODES_FROM)
        ann_from = calendar.first_open_on_or_after(NAMECHANGE_ANN_FROM)
        never = n_days + 10
        self.st_begin = np.full(len(self.index), never, dtype=np.int64)
        self.st_finish = np.full(len(self.index), never, dtype=np.int64)
        self.name_events: list[list[NameEvent]] = []
        for i in self.index.tolist():

            def chance(salt: int, i: int = i) -> float:
                return float(_hash(seed, salt, i))

            number = i + 1
            base, old = f"合成{number:04d}", f"合成原{number:04d}"
            listed, last = int(self.list_idx[i]), min(int(self.delist_idx[i]), n_days) - 1
            steps: list[tuple[int, str, str]] = []  # (start, name, reason) after the listing row
            st_start = None
            if self.board[i] in MAIN_BOARDS:
                if self.delist_idx[i] < n_days and chance(33) < 0.5:
                    start = int(self.delist_idx[i]) - 60 - int(150 * chance(34))
                    if start > max(listed + 60, st_from):
                        steps.append((start, f"*ST{base}", "*ST"))
                        st_start, st_end = start, never
                elif self.delist_idx[i] >= n_days and chance(33) < 0.12:
                    start = max(listed + 250 + int(3000 * chance(35)), st_from + int(500 * chance(36)))
                    if start < last - 5:
                        st_start, st_end = start, never
                        steps.append((start, f"ST{base}", "ST"))
                        star = start + 60 + int(200 * chance(37)) if chance(38) < 0.5 else None
                        if star is not None and star < last:
                            steps.append((star, f"*ST{base}", "*ST"))
                        end = (star or start) + 120 + int(500 * chance(39))
                        if chance(40) < 0.6 and end < last:
                            steps.append((end, base, "撤销*ST" if star is not None and star < end else "撤销ST"))
                            st_end = end
                if st_start is not None:
                    self.st_begin[i], self.st_finish[i] = st_start, st_end
            renamed = chance(31) < 0.10
            rename = listed + 20 + int(((st_start or last) - listed - 40) * chance(32))
            first_name = old if renamed and listed + 20 < rename < (st_start or last) - 20 else base
            events = [NameEvent(listed, max(listed - 2, 0) if listed >= ann_from else None, first_name, "其他")]
            if first_name == old:
                steps.insert(0, (rename, base, "改名"))
            for k, (start, name, reason) in enumerate(steps):
                events.append(NameEvent(start, max(start - int(4 * chance(41 + k)), listed), name, reason))
            self.name_events.append(events)

    def name_on(self, stock: int, t: int) -> str:
        """The name in effect on trading day index `t` (stock_basic shows it)."""
        name = self.name_events[stock][0].name
        for event in self.name_events[stock]:
            if event.start <= t:
                name = event.name
        return name

    def is_st(self, t: int | np.ndarray, stocks: np.ndarray) -> np.ndarray:
        return (self.st_begin[stocks] <= t) & (np.asarray(t) < self.st_finish[stocks])

    @cached_property
    def _limit_change_days(self) -> tuple[int, int]:
        first = self.calendar.first_open_on_or_after
        return first(CHINEXT_20_FROM), first(ST_10_FROM)

    def limit_pct(self, t: int | np.ndarray, stocks: np.ndarray) -> np.ndarray:
        """Each stock's price limit on day `t` (an index or a column of them): its board's, 10 % for ChiNext before
        2020-08-24, 5 % (10 % from 2025-07-07) for main-board ST stocks (REF §6.4)."""
        chinext_20, st_10 = self._limit_change_days
        t = np.asarray(t)
        pct = np.where((self.board[stocks] == "CHINEXT") & (t < chinext_20), 0.10, self.limit[stocks])
        return np.where(self.is_st(t, stocks), np.where(t < st_10, 0.05, 0.10), pct)

    def namechanges(self, stock: int, visible: Callable[[int], bool]) -> list[dict]:
        """namechange rows of one stock whose announcement (or start, when none) is public; end_date is the day
        before the next public change takes effect, None for the latest."""
        days = self.calendar.open_days
        events = self.name_events[stock]
        public = [event for event in events if visible(event.ann if event.ann is not None else event.start)]
        rows = []
        for k, event in enumerate(public):
            following = public[k + 1] if k + 1 < len(public) else None
            rows.append(
                {
                    "ts_code": str(self.ts_code[stock]),
                    "name": event.name,
                    "start_date": _yyyymmdd(days[event.start]),
                    "end_date": _yyyymmdd(days[following.start] - timedelta(days=1)) if following else None,
                    "ann_date": _yyyymmdd(days[event.ann]) if event.ann is not None else None,
                    "change_reason": event.reason,
                }
            )
        return rows

    # -- market data for one trading day -------------------------------------------------------------

    def listed_mask(self, t: int, stocks: np.ndarray) -> np.ndarray:
        return (self.list_idx[stocks] <= t) & (t < self.delist_idx[stocks])

    def traded_mask(self, t: int, stocks: np.ndarray) -> np.ndarray:
        return self.listed_mask(t, stocks) & (t < self.pause_idx[stocks]) & ~self._suspended(t, stocks)

    def _suspended(self, t: int | np.ndarray, stocks: np.ndarray) -> np.ndarray:
        # Short suspensions in every other 3-day block only, so a stock is never out for longer than
        # one block and its first move back stays within the price limit.
        block = np.asarray(t) // SUSPENSION_BLOCK_DAYS
        return (block % 2 == 0) & (_hash(self.seed, stocks, block, 1) < 0.02)

    def _price(self, t: int | np.ndarray, stocks: np.ndarray) -> np.ndarray:
        """Back-adjusted (hfq) price: smooth trend plus a bounded deterministic jitter."""
        age = np.asarray(t) - self.list_idx[stocks]
        log_price = (
            np.log(self.base_price[stocks])
            + self.drift[stocks] * age
            + self.amplitude[stocks] * np.sin(self.frequency[stocks] * age + self.phase[stocks])
            + self.jitter[stocks] * (2 * _hash(self.seed, stocks, t, 2) - 1)
        )
        return np.exp(log_price)

    def _adj(self, t: int | np.ndarray, stocks: np.ndarray) -> np.ndarray:
        age = np.asarray(t) - self.list_idx[stocks]
        events = np.where(
            age >= self.dividend_offset[stocks], (age - self.dividend_offset[stocks]) // DIVIDEND_INTERVAL_DAYS + 1, 0
        )
        return np.round((1 + self.dividend_rate[stocks]) ** events, 3)

    def _previous_traded(self, t: int, stocks: np.ndarray) -> np.ndarray:
        """The last day before `t` each stock traded; the day before listing for new listings."""
        previous = np.full(len(stocks), -1, dtype=np.int64)
        for back in range(1, 2 * SUSPENSION_BLOCK_DAYS + 2):
            open_mask = (previous < 0) & ~self._suspended(t - back, stocks)
            previous[open_mask] = t - back
        return np.maximum(previous, self.list_idx[stocks] - 1)

    def adj_factor(self, t: int, stocks: np.ndarray) -> dict[str, np.ndarray]:
        stocks = stocks[self.listed_mask(t, stocks)]
        return {"ts_code": self.ts_code[stocks], "adj_factor": self._adj(t, stocks)}

    def _previous_traded_block(self, t: np.ndarray, stocks: np.ndarray) -> np.ndarray:
        """`_previous_traded` for a column of days `t` (shape (D, 1)): one row per day."""
        previous = np.full((t.shape[0], len(stocks)), -1, dtype=np.int64)
        for back in range(1, 2 * SUSPENSION_BLOCK_DAYS + 2):
            previous = np.where((previous < 0) & ~self._suspended(t - back, stocks), t - back, previous)
        return np.maximum(previous, self.list_idx[stocks] - 1)

    def bars(self, t: np.ndarray, stocks: np.ndarray) -> dict[str, np.ndarray]:
        """Daily bars of `stocks` on a column of days `t` (shape (D, 1)) as (D, S) arrays, with the `traded` mask
        (values where it is False are meaningless)."""
        traded = self.traded_mask(t, stocks)
        adj = self._adj(t, stocks)
        close = np.round(self._price(t, stocks) / adj, 2)
        # The ex-rights reference price: yesterday's close restated with today's factor.
        pre_close = np.round(self._price(self._previous_traded_block(t, stocks), stocks) / adj, 2)
        up, down = limit_prices(pre_close, self.limit_pct(t, stocks))
        # The exchange enforces the limit: rounding at very low prices could otherwise cross it.
        close = np.clip(close, down, up)
        scale = self.limit[stocks] * 0.1
        open_ = np.clip(pre_close * np.exp(scale * (2 * _hash(self.seed, stocks, t, 3) - 1) * 0.5), down, up)
        high = np.clip(np.maximum(open_, close) * (1 + scale * _hash(self.seed, stocks, t, 4)), None, up)
        low = np.clip(np.minimum(open_, close) * (1 - scale * _hash(self.seed, stocks, t, 5)), down, None)
        open_, high, low = np.round(open_, 2), np.round(high, 2), np.round(low, 2)
        vol = np.round(
            self.float_share[stocks] * self.turnover_base[stocks] * (0.5 + _hash(self.seed, stocks, t, 6)), 2
        )
        amount = np.round(vol * 100 * (open_ + high + low + close) / 4 / 1000, 3)
        change = np.round(close - pre_close, 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            pct_chg = np.round(change / pre_close * 100, 4)
        return {
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "pre_close": pre_close,
            "change": change,
            "pct_chg": pct_chg,
            "vol": vol,
            "amount": amount,
            "traded": traded,
        }

    def daily(self, t: int, stocks: np.ndarray) -> dict[str, np.ndarray]:
        columns = self.bars(np.array([[t]]), stocks)
        keep = columns.pop("traded")[0]
        return {"ts_code": self.ts_code[stocks][keep]} | {name: values[0][keep] for name, values in columns.items()}

    def daily_basic(self, t: int, stocks: np.ndarray) -> dict[str, np.ndarray]:
        bars = self.daily(t, stocks)
        stocks = stocks[self.traded_mask(t, stocks)]
        close = bars["close"]
        turnover = bars["vol"] * 100 / (self.float_share[stocks] * 1e4) * 100
        eps = self.eps[stocks]
        pe = np.where(eps > 0, close / np.where(eps > 0, eps, 1), np.nan)
        return {
            "ts_code": bars["ts_code"],
            "close": close,
            "turnover_rate": np.round(turnover, 4),
            "turnover_rate_f": np.round(turnover * self.float_share[stocks] / self.free_share[stocks], 4),
            "volume_ratio": np.round(0.5 + 1.5 * _hash(self.seed, stocks, t, 7), 2),
            "pe": np.round(pe, 4),
            "pe_ttm": np.round(pe * 1.05, 4),
            "pb": np.round(close / self.bps[stocks], 4),
            "ps": np.round(close / self.sales_ps[stocks], 4),
            "ps_ttm": np.round(close / self.sales_ps[stocks] * 0.97, 4),
            "dv_ratio": np.round(self.dividend_rate[stocks] * 40, 4),
            "dv_ttm": np.round(self.dividend_rate[stocks] * 42, 4),
            "total_share": self.total_share[stocks],
            "float_share": self.float_share[stocks],
            "free_share": self.free_share[stocks],
            "total_mv": np.round(close * self.total_share[stocks], 4),
            "circ_mv": np.round(close * self.float_share[stocks], 4),
        }

    def stk_limit(self, t: int, stocks: np.ndarray) -> dict[str, np.ndarray]:
        """Limit prices of day `t` for every listed stock not suspended from listing (short trading suspensions
        included: the limits are published before the open), from the same pre_close as `daily`."""
        if self.calendar.open_days[t] < PRICE_LIMITS_FROM:
            stocks = stocks[:0]
        stocks = stocks[self.listed_mask(t, stocks) & (t < self.pause_idx[stocks])]
        pre_close = np.round(self._price(self._previous_traded(t, stocks), stocks) / self._adj(t, stocks), 2)
        up, down = limit_prices(pre_close, self.limit_pct(t, stocks))
        return {"ts_code": self.ts_code[stocks], "pre_close": pre_close, "up_limit": up, "down_limit": down}

    def suspend_d(self, t: int, stocks: np.ndarray) -> dict[str, np.ndarray]:
        """Day `t`'s suspension rows: 'S' with no timing for every listed stock without a `daily` row (trading
        suspensions and suspended listings), 'R' on the first day a stock trades again, and 'S' with a timing for a
        few intraday suspensions of stocks that do trade (DOC-214, XZ)."""
        listed = self.listed_mask(t, stocks)
        traded = self.traded_mask(t, stocks)
        was_out = (self.list_idx[stocks] < t) & self.listed_mask(t - 1, stocks) & ~self.traded_mask(t - 1, stocks)
        resumed = traded & was_out
        intraday = traded & ~resumed & (_hash(self.seed, stocks, t, 9) < INTRADAY_SUSPENSION_SHARE)
        full = listed & ~traded
        chosen = full | resumed | intraday
        timing = np.where(intraday, "09:30-10:00", None)
        kind = np.where(resumed, "R", "S")
        return {
            "ts_code": self.ts_code[stocks[chosen]],
            "suspend_timing": timing[chosen],
            "suspend_type": kind[chosen],
        }

    # -- dividends ------------------------------------------------------------------------------------

    def dividends(self, stock: int) -> list[dict]:
        if stock not in self._dividend_cache:
            self._dividend_cache[stock] = self._dividends(stock)
        return self._dividend_cache[stock]

    def _dividends(self, stock: int) -> list[dict]:
        """One event per ex-dividend step of `adj_factor` (ex_date = the step's day), with the cash and stock
        amounts that turn the previous close into the ex-rights reference price of `daily`:
        (close - cash_div_tax) / (1 + stk_div) = close x adj(before) / adj(ex). Each event has three rows, one per
        stage: '预案' (plan, dated `ann_date`), '股东大会通过' (shareholders' meeting, 15 trading days before ex) and
        '实施' (implementation, with record/ex/pay dates and imp_ann_date 4 trading days before ex). Every row has a
        private `visible_from` (trading day index of its announcement)."""
        days, seed = self.calendar.open_days, self.seed
        listed, offset = int(self.list_idx[stock]), int(self.dividend_offset[stock])
        end = min(int(self.delist_idx[stock]), len(days))
        events = []
        ex = listed + offset
        one = np.array([stock])
        while ex < end:
            before, after = float(self._adj(ex - 1, one)[0]), float(self._adj(ex, one)[0])
            ratio = after / before
            previous = self._previous_traded(ex, one)
            close = round(float(self._price(previous, one)[0]) / before, 2)
            bonus = np.floor((ratio - 1) * 100) / 100 if _hash(seed, 51, stock, ex) < 0.25 else 0.0
            cash = float(round(max(close - close / ratio * (1 + bonus), 0.0), 3))
            plan, meeting = max(ex - 40, 0), max(ex - 15, 1)
            plan_day = days[plan]
            period = date(plan_day.year - 1, 12, 31) if plan_day.month <= 8 else date(plan_day.year, 6, 30)
            common = {
                "ts_code": str(self.ts_code[stock]),
                "end_date": _yyyymmdd(period),
                "ann_date": _yyyymmdd(plan_day),
                "stk_div": round(float(bonus), 2),
                "stk_bo_rate": round(float(bonus), 2) if bonus and _hash(seed, 52, stock, ex) < 0.5 else None,
                "cash_div": cash,
                "cash_div_tax": cash,
                "record_date": None,
                "ex_date": None,
                "pay_date": None,
                "div_listdate": None,
                "imp_ann_date": None,
                "base_date": _yyyymmdd(period),
                "base_share": float(self.total_share[stock]),
            }
            common["stk_co_rate"] = round(float(bonus), 2) if bonus and common["stk_bo_rate"] is None else None
            implemented = common | {
                "div_proc": "实施",
                "record_date": _yyyymmdd(days[ex - 1]),
                "ex_date": _yyyymmdd(days[ex]),
                "pay_date": _yyyymmdd(days[ex]),
                "div_listdate": _yyyymmdd(days[ex]) if bonus else None,
                "imp_ann_date": _yyyymmdd(days[ex - 4]),
                "visible_from": ex - 4,
            }
            events += [
                implemented,
                common | {"div_proc": "股东大会通过", "visible_from": meeting},
                common | {"div_proc": "预案", "visible_from": plan},
            ]
            ex += DIVIDEND_INTERVAL_DAYS
        return events


# -- financial statements -------------------------------------------------------------------------

STATEMENT_START = date(2000, 1, 1)
# Days after the period end by which a report is announced, by quarter (Q1, H1, Q3, annual).
ANNOUNCEMENT_LAG = {3: (18, 29), 6: (30, 60), 9: (18, 30), 12: (60, 118)}
HEAD_FIELDS = {"ts_code", "ann_date", "f_ann_date", "end_date", "report_type", "comp_type", "end_type", "update_flag"}
# The one number a same-date correction changes, and how, as in recorded real pairs: income 000001.SZ 2018H1 (ebit),
# balancesheet 000002.SZ 2023H1 (total_share), fina_indicator 600519.SH 2018Q1 (fcff changes sign). cashflow: no
# recorded pair, so a headline figure is chosen.
CORRECTIONS = {
    "income": ("ebit", 1.0257),
    "balancesheet": ("total_share", 1.0258),
    "cashflow": ("n_cashflow_act", 1.0311),
    "fina_indicator": ("fcff", -1.0),
}
# Shares of reports with each kind of later change (deterministic per stock and period).
REVISED_SHARE, DUPLICATE_SHARE, RESTATED_SHARE, CORRECTED_SHARE, LATE_F_ANN_SHARE = 0.12, 0.05, 0.15, 0.10, 0.05


@dataclass(frozen=True)
class StatementQuirks:
    """Which real-service statement behaviours to reproduce (see ServerConfig)."""

    restatements: bool = False
    same_date_corrections: bool = False
    correction_lag_days: int = 30
    f_ann_after_ann: bool = False


def quarter_ends(first: date, last: date) -> list[date]:
    ends, year = [], first.year
    while date(year, 3, 31) <= last:
        for month, day in ((3, 31), (6, 30), (9, 30), (12, 31)):
            end = date(year, month, day)
            if first <= end <= last:
                ends.append(end)
        year += 1
    return ends


def _yyyymmdd(day: date) -> str:
    return day.strftime("%Y%m%d")


class SyntheticStatements:
    """Statement versions per stock and period, as Tushare serves them: originals, revisions (update_flag 0 then
    1, announced later), byte-identical duplicate rows, and with `StatementQuirks` restatements (report_type 1, 4
    and 5), corrections that share the original's dates and `f_ann_date` after `ann_date`.

    A version is a dict of its head fields (`ts_code`, `ann_date`, ... as Tushare strings) plus private keys: the
    stock, which set of numbers it carries, the corrected field if any, and the days from which it is visible and
    from which it is replaced (`visible_from`, `hidden_from`)."""

    def __init__(self, market: SyntheticMarket):
        self.market = market
        self.code_index = {code: i for i, code in enumerate(market.ts_code)}

    def _periods(self, stock: int, until: date) -> list[date]:
        market = self.market
        open_days = market.calendar.open_days
        listed = open_days[min(market.list_idx[stock], len(open_days) - 1)]
        last = until if market.delist_idx[stock] >= len(open_days) else min(until, open_days[market.delist_idx[stock]])
        return quarter_ends(max(STATEMENT_START, date(listed.year - 2, 1, 1)), last)

    def announced(self, stock: int, end: date) -> date:
        low, high = ANNOUNCEMENT_LAG[end.month]
        return end + timedelta(days=low + int((high - low) * _hash(self.market.seed, stock, end.toordinal(), 11)))

    def _chance(self, stock: int, end: date, salt: int) -> float:
        return float(_hash(self.market.seed, stock, end.toordinal(), salt))

    def _quirk_chance(self, stock: int, end: date, salt: int) -> float:
        # Salt first: with the salt last, nearby salts give correlated draws (salt 16 follows salt 12 closely).
        return float(_hash(self.market.seed, salt, stock, end.toordinal()))

    def _version(self, stock: int, period_index: int, end: date, announced: date, **changes) -> dict:
        industry = str(self.market.industry[stock])
        return {
            "stock": stock,
            "period_index": period_index,
            "ts_code": str(self.market.ts_code[stock]),
            "ann_date": _yyyymmdd(announced),
            "f_ann_date": _yyyymmdd(announced),
            "end_date": _yyyymmdd(end),
            "report_type": "1",
            "comp_type": {"银行": "2", "证券": "4"}.get(industry, "1"),
            "end_type": str(end.month // 3),
            "update_flag": "1",
            "numbers": 0,
            "corrected": False,
            "visible_from": announced,
            "hidden_from": None,
        } | changes

    def _versions(self, stock: int, period_index: int, end: date, quirks: StatementQuirks) -> list[dict]:
        announced = self.announced(stock, end)
        version = partial(self._version, stock, period_index, end, announced)
        revised = self._chance(stock, end, 12) < REVISED_SHARE
        if not revised and quirks.restatements and self._quirk_chance(stock, end, 16) < RESTATED_SHARE:
            return self._restated(version, self.announced(stock, end.replace(year=end.year + 1)))
        if not revised and quirks.same_date_corrections and self._quirk_chance(stock, end, 17) < CORRECTED_SHARE:
            return self._corrected(version, announced + timedelta(days=quirks.correction_lag_days))
        first = version(update_flag="0") if revised else version()
        if not revised and quirks.f_ann_after_ann and self._quirk_chance(stock, end, 18) < LATE_F_ANN_SHARE:
            # Like 000001.SZ 2005H1 (ann 20050819, f_ann 20060705): the row is served from the later date.
            late = announced + timedelta(days=120 + int(210 * self._quirk_chance(stock, end, 19)))
            first = version(f_ann_date=_yyyymmdd(late), visible_from=late)
        versions = [first]
        if self._chance(stock, end, 13) < DUPLICATE_SHARE:
            versions.append(first)  # a byte-identical duplicate row
        if revised:
            later = announced + timedelta(days=30 + int(270 * self._chance(stock, end, 14)))
            on = _yyyymmdd(later)
            versions.append(version(ann_date=on, f_ann_date=on, numbers=1, visible_from=later))
        return versions

    @staticmethod
    def _restated(version, restated_on: date) -> list[dict]:
        """A report restated with the next year's report of the same quarter: type 1 then carries the restated
        numbers, dated at the restatement with the original's `f_ann_date` (like 000001.SZ 2006Q1: ann 20070426,
        f_ann 20060426, update_flag 0); type 5 keeps the original numbers and dates; type 4 is the restated
        comparative published with the next year's report (REF §5)."""
        on = _yyyymmdd(restated_on)
        return [
            version(hidden_from=restated_on),
            version(ann_date=on, update_flag="0", numbers=2, visible_from=restated_on),
            version(report_type="5", visible_from=restated_on),
            version(report_type="4", ann_date=on, f_ann_date=on, numbers=2, visible_from=restated_on),
        ]

    @staticmethod
    def _corrected(version, corrected_on: date) -> list[dict]:
        """A correction that shares the original's dates and differs in one number; it appears `corrected_on`
        and flips the original's update_flag to 0 (like income 000001.SZ 2018H1)."""
        return [
            version(hidden_from=corrected_on),
            version(update_flag="0", visible_from=corrected_on),
            version(corrected=True, visible_from=corrected_on),
        ]

    def reports(
        self, stock: int, today: date, is_public: Callable[[date], bool], quirks: StatementQuirks
    ) -> list[dict]:
        """Every version of every report of one stock that is public now (`is_public(announcement day)`), without
        field values."""
        versions = []
        for period_index, end in enumerate(self._periods(stock, today)):
            for version in self._versions(stock, period_index, end, quirks):
                replaced = version["hidden_from"] is not None and is_public(version["hidden_from"])
                if is_public(version["visible_from"]) and not replaced:
                    versions.append(version)
        return versions

    def rows(self, api_name: str, fields: tuple[str, ...], versions: list[dict]) -> list[dict]:
        """Field values for report versions: deterministic per stock, period, field and set of numbers."""
        if not versions:
            return []
        market = self.market
        value_fields = [name for name in fields if name not in HEAD_FIELDS]
        stocks = np.array([v["stock"] for v in versions])
        periods = np.array([v["period_index"] for v in versions])
        numbers = np.array([v["numbers"] for v in versions])
        field_ids = np.array([sum(map(ord, name)) * 131 + len(name) for name in value_fields])
        noise = _hash(market.seed, stocks[:, None], periods[:, None], field_ids[None, :], 21)
        scale = market.total_share[stocks][:, None] * 1e4 * (1 + 0.02 * periods[:, None])
        values = np.round(scale * (noise - 0.3) * (1 + 0.05 * numbers[:, None]), 2)
        corrected_field, factor = CORRECTIONS.get(api_name.removesuffix("_vip"), (None, 1.0))
        # Fields this synthetic market never fills; the corrected one is always filled, so corrections show.
        missing = (_hash(market.seed, field_ids, 22) < 0.25) & (np.array(value_fields) != corrected_field)
        rows = []
        for index, version in enumerate(versions):
            row = {name: version[name] for name in fields if name in HEAD_FIELDS}
            for position, name in enumerate(value_fields):
                value = None if missing[position] else float(values[index, position])
                if version["corrected"] and name == corrected_field:
                    value = round(value * factor, 2)
                row[name] = value
            rows.append(row)
        return rows

    def disclosures(self, period: date, today: date) -> list[dict]:
        """disclosure_date for one report period: planned dates, and actual ones once announced."""
        rows = []
        for stock in self.market.index:
            if period not in self._periods(stock, period + timedelta(days=200)):
                continue
            announced = self.announced(stock, period)
            planned = announced - timedelta(days=int(10 * _hash(self.market.seed, stock, period.toordinal(), 15)))
            rows.append(
                {
                    "ts_code": str(self.market.ts_code[stock]),
                    "ann_date": (period + timedelta(days=15)).strftime("%Y%m%d"),
                    "end_date": period.strftime("%Y%m%d"),
                    "pre_date": planned.strftime("%Y%m%d"),
                    "actual_date": announced.strftime("%Y%m%d") if announced <= today else None,
                    "modify_date": None,
                }
            )
        return rows
