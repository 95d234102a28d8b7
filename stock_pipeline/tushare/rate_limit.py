"""A calls-per-minute budget per Tushare API, shared by every process that uses the same database.

Tushare counts calls per token and API in a sliding 60-second window and keeps counting rejected calls,
so a client that overshoots stays locked out. The budget keeps its own sliding window in a table, under
a lock (SQLite: the write lock; PostgreSQL: an advisory lock per API), so concurrent runs of one
backfill share one budget instead of each spending the whole of it.
"""

import time
import zlib
from collections.abc import Callable, Mapping

import sqlalchemy as sa

from stock_pipeline.database import create_engine, ensure_tables, is_postgres

WINDOW_SECONDS = 60.0

_metadata = sa.MetaData()
call_log = sa.Table(
    "tushare_call_log",
    _metadata,
    sa.Column("api_name", sa.String(64), nullable=False),
    sa.Column("called_at", sa.Float(53), nullable=False),
    sa.Index("ix_tushare_call_log_api_time", "api_name", "called_at"),
)


class CallBudget:
    def __init__(
        self,
        url: str,
        calls_per_minute: int,
        per_api: Mapping[str, int] | None = None,
        window_seconds: float = WINDOW_SECONDS,
        safety_seconds: float = 1.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._url = url
        self._default = calls_per_minute
        self._per_api = dict(per_api or {})
        # Requests reach the server a little after they leave; widen the window so the server's
        # 60 seconds never hold more calls than the budget.
        self._window = window_seconds + safety_seconds
        self._clock = clock
        self._sleep = sleep
        self._engine: sa.Engine | None = None

    def limit_for(self, api_name: str) -> int:
        """Calls per minute allowed for `api_name`; 0 means unlimited."""
        return self._per_api.get(api_name, self._default)

    def acquire(self, api_name: str) -> float:
        """Block until a call to `api_name` fits the budget, record it, and return the seconds waited."""
        limit = self.limit_for(api_name)
        if limit <= 0:
            return 0.0
        waited = 0.0
        while True:
            wait = self._try_acquire(api_name, limit)
            if wait <= 0:
                return waited
            self._sleep(wait)
            waited += wait

    def _try_acquire(self, api_name: str, limit: int) -> float:
        engine = self._get_engine()
        with engine.begin() as conn:
            if is_postgres(engine):
                conn.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"),
                    {"key": zlib.crc32(f"tushare_call_budget:{api_name}".encode())},
                )
            now = self._clock()
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
