"""A calls-per-minute budget per Tushare API, shared by every process that uses the same database.

Tushare counts calls per token and API in a sliding 60-second window and keeps counting rejected calls,
so a client that overshoots stays locked out. The budget keeps its own sliding window in a table, under
a lock (SQLite: the write lock; PostgreSQL: an advisory lock per API), so concurrent runs of one
backfill share one budget instead of each spending the whole of it. Times are the database's clock,
never a host's: processes on machines whose clocks disagree still agree on the window.

A call is recorded when it is allowed, and its time moved to when its answer came (`finished`): the
server counted it somewhere in between, so a window measured from the answer holds on the server however
long the request took to get there (a loaded host can take seconds), and needs no wide safety margin.

The same tables hold quota blocks: once the service says an API's daily (or hourly) allowance is spent,
no process calls that API again until the allowance renews; they fail at once with the service's answer.
"""

import threading
import time
import zlib
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from stock_pipeline.database import create_engine, ensure_tables, is_postgres
from stock_pipeline.tushare.errors import TushareHourlyLimitError, TushareQuotaError

WINDOW_SECONDS = 60.0
# Tushare's day (for daily quotas) is the Beijing calendar day.
SHANGHAI = ZoneInfo("Asia/Shanghai")

# Calls per minute per API by points tier, highest first: the one place the default budget comes from.
# Source: Tushare's points/frequency table (https://tushare.pro/document/1?doc_id=290): 120 points 50/min,
# 2000 points 200/min, 5000 points 500/min, 10000 points and above 1000/min. Override per API with
# `TushareResource.calls_per_minute_by_api` (some APIs have their own, lower limits).
CALLS_PER_MINUTE_BY_POINTS = ((10000, 1000), (5000, 500), (2000, 200), (120, 50))


def calls_per_minute_for_points(points: int) -> int:
    """The per-API budget of an account with `points` (the lowest tier's below 120)."""
    lowest = CALLS_PER_MINUTE_BY_POINTS[-1][1]
    return next((calls for tier, calls in CALLS_PER_MINUTE_BY_POINTS if points >= tier), lowest)


_metadata = sa.MetaData()
call_log = sa.Table(
    "tushare_call_log",
    _metadata,
    sa.Column("api_name", sa.String(64), nullable=False),
    sa.Column("called_at", sa.Float(53), nullable=False),
    sa.Index("ix_tushare_call_log_api_time", "api_name", "called_at"),
)
quota_block = sa.Table(
    "tushare_quota_block",
    _metadata,
    sa.Column("api_name", sa.String(64), primary_key=True),
    sa.Column("blocked_until", sa.Float(53), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    comment="APIs whose daily or hourly allowance the service said is spent, until it renews (epoch seconds).",
)


def _database_now(conn: sa.Connection) -> float:
    """Seconds since the epoch by the database's clock. PostgreSQL: `clock_timestamp()`, not `now()`,
    which is the transaction's start and so before any wait for the lock."""
    if conn.dialect.name == "postgresql":
        return float(conn.exec_driver_sql("SELECT extract(epoch FROM clock_timestamp())").scalar_one())
    return float(conn.exec_driver_sql("SELECT (julianday('now') - 2440587.5) * 86400.0").scalar_one())


class CallBudget:
    def __init__(
        self,
        url: str,
        calls_per_minute: int,
        per_api: Mapping[str, int] | None = None,
        window_seconds: float = WINDOW_SECONDS,
        safety_seconds: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._url = url
        self._default = calls_per_minute
        self._per_api = dict(per_api or {})
        # Calls are timed from their answers (see `finished`); the margin covers the two clocks' resolution.
        self._window = window_seconds + safety_seconds
        self._recorded = threading.local()
        self._sleep = sleep
        self._engine: sa.Engine | None = None

    def limit_for(self, api_name: str) -> int:
        """Calls per minute allowed for `api_name`; 0 means unlimited."""
        return self._per_api.get(api_name, self._default)

    def acquire(self, api_name: str) -> float:
        """Block until a call to `api_name` fits the budget, record it, and return the seconds waited.

        Raises the quota error at once, without a call, while the API's allowance is known to be spent."""
        limit = self.limit_for(api_name)
        waited = 0.0
        while True:
            wait = self._try_acquire(api_name, limit)
            if wait <= 0:
                return waited
            self._sleep(wait)
            waited += wait

    def finished(self, api_name: str) -> None:
        """Move the call this thread was last allowed for `api_name` to now, when its answer (or error) came."""
        recorded = getattr(self._recorded, "call", None)
        if recorded is None or recorded[0] != api_name:
            return
        self._recorded.call = None
        with self._get_engine().begin() as conn:
            conn.execute(
                call_log.update()
                .where(call_log.c.api_name == api_name, call_log.c.called_at == recorded[1])
                .values(called_at=_database_now(conn))
            )

    def block(self, error: TushareQuotaError) -> None:
        """Stop every process calling `error.api_name` until its allowance renews: the next Beijing
        midnight for a daily quota, an hour for an hourly limit."""
        with self._get_engine().begin() as conn:
            now = _database_now(conn)
            if isinstance(error, TushareHourlyLimitError):
                until = now + 3600
            else:
                tomorrow = datetime.fromtimestamp(now, SHANGHAI).date() + timedelta(days=1)
                until = datetime.combine(tomorrow, datetime.min.time(), SHANGHAI).timestamp()
            reason = str(error).removeprefix(f"Tushare `{error.api_name}`: ")
            conn.execute(quota_block.delete().where(quota_block.c.api_name == error.api_name))
            conn.execute(quota_block.insert().values(api_name=error.api_name, blocked_until=until, reason=reason))

    def _try_acquire(self, api_name: str, limit: int) -> float:
        engine = self._get_engine()
        with engine.begin() as conn:
            if limit > 0 and is_postgres(engine):
                conn.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"),
                    {"key": zlib.crc32(f"tushare_call_budget:{api_name}".encode())},
                )
            now = _database_now(conn)
            blocked = conn.execute(
                sa.select(quota_block.c.blocked_until, quota_block.c.reason).where(
                    quota_block.c.api_name == api_name, quota_block.c.blocked_until > now
                )
            ).first()
            if blocked is not None:
                renews = datetime.fromtimestamp(blocked.blocked_until, SHANGHAI)
                raise TushareQuotaError(
                    f"no call made: the allowance of this API is spent until {renews:%Y-%m-%d %H:%M} Asia/Shanghai "
                    f"(the service answered: {blocked.reason})",
                    api_name=api_name,
                )
            if limit <= 0:
                return 0.0
            conn.execute(
                call_log.delete().where(call_log.c.api_name == api_name, call_log.c.called_at < now - self._window)
            )
            recent = (
                conn.execute(
                    sa.select(call_log.c.called_at)
                    .where(call_log.c.api_name == api_name)
                    .order_by(call_log.c.called_at.desc())
                    .limit(limit)
                )
                .scalars()
                .all()
            )
            if len(recent) < limit:
                conn.execute(call_log.insert().values(api_name=api_name, called_at=now))
                self._recorded.call = (api_name, now)
                return 0.0
            # The oldest of the last `limit` calls must leave the window before another may start.
            return max(recent[-1] + self._window - now, 0.01)

    def _get_engine(self) -> sa.Engine:
        if self._engine is None:
            self._engine = create_engine(self._url)
            ensure_tables(self._engine, _metadata)
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
