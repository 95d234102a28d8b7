"""Resources own all I/O: the Tushare API and the warehouse database."""

import contextlib
import os
from collections.abc import Iterator

import dagster as dg
import sqlalchemy as sa
from pydantic import Field
from sqlalchemy.engine import make_url

from stock_pipeline import settings
from stock_pipeline.database import DatabaseConfigError
from stock_pipeline.datasets import DEFAULT_REPORT_TYPES
from stock_pipeline.reads.views import create_daily_hfq_view
from stock_pipeline.statements import create_latest_views
from stock_pipeline.tushare.client import TushareClient
from stock_pipeline.tushare.rate_limit import CallBudget, calls_per_minute_for_points
from stock_pipeline.warehouse import Warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse database. Tables are created on first use."""

    url: str | None = Field(
        default=None,
        description=f"SQLAlchemy URL; default: ${settings.DB_URL_ENV}, else a SQLite file in the data folder. "
        "Read at run time so a password in it never shows in the UI.",
    )

    def resolved_url(self) -> str:
        return self.url or settings.db_url()

    def open(self) -> Warehouse:
        """The warehouse with its tables; a bad URL or an unreachable database fails the run clearly."""
        try:
            warehouse = Warehouse(self.resolved_url())
            warehouse.create_tables()
            create_latest_views(warehouse.engine)
            create_daily_hfq_view(warehouse.engine)
        except DatabaseConfigError as error:
            raise dg.Failure(description=f"{error} Check {settings.DB_URL_ENV}.", allow_retries=False) from None
        except sa.exc.SQLAlchemyError as error:
            url = make_url(self.resolved_url()).render_as_string(hide_password=True)
            reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
            raise dg.Failure(
                description=f"Cannot use the warehouse at {url}: {reason}. Check {settings.DB_URL_ENV}.",
                allow_retries=False,
            ) from None
        return warehouse

    @contextlib.contextmanager
    def connected(self) -> Iterator[Warehouse]:
        """The warehouse for a sensor or schedule tick, its connections closed afterwards: ticks run
        in the long-lived code server, where an engine left open per tick would pile up."""
        warehouse = self.open()
        try:
            yield warehouse
        finally:
            warehouse.dispose()


class TushareResource(dg.ConfigurableResource):
    """The Tushare Pro HTTP API with retries, paging and a calls-per-minute budget per API."""

    token: str | None = Field(
        default=None,
        description=f"Tushare Pro token; default: ${settings.TUSHARE_TOKEN_ENV}, read when a step starts, so it never "
        "shows in the UI. Never put a literal here.",
    )
    api_url: str | None = Field(
        default=None, description=f"API base URL; default: ${settings.TUSHARE_API_URL_ENV}, else the official one."
    )
    timeout_seconds: float = 30.0
    points: int = Field(
        default=2000, description="The account's Tushare points: the default budget per API is its tier's limit."
    )
    calls_per_minute: int | None = Field(
        default=None,
        description="Budget per API shared by all processes (0 = unlimited); default: "
        f"${settings.CALLS_PER_MINUTE_ENV}, else the points tier's.",
    )
    calls_per_minute_by_api: dict[str, int] = Field(default_factory=dict, description="Per-API overrides.")
    rate_window_seconds: float = Field(
        default=60.0, description="Length of the server's sliding rate window: a minute on the real service."
    )
    budget_db_url: str | None = Field(
        default=None,
        description="Database holding the shared call budget and quota blocks; default: the run's warehouse. Every "
        "deployment calling Tushare with one token must share it.",
    )
    max_attempts: int = Field(default=6, description="Attempts per call for transient failures.")
    backoff_seconds: float = Field(default=1.0, description="First retry delay; doubles each attempt, with jitter.")
    max_backoff_seconds: float = 60.0
    rate_limit_cooldown_seconds: float = Field(
        default=61.0, description="Wait after a rate-limit answer: the server's window is a sliding minute."
    )
    step_retries: int = Field(
        default=2, description="Retries of a whole step when the API stayed unavailable through max_attempts."
    )
    step_retry_delay_seconds: float = Field(default=120.0, description="Wait before such a step retry.")

    def budget_per_minute(self) -> int:
        if self.calls_per_minute is not None:
            return self.calls_per_minute
        # Read at run time, so run config that sets other fields of this resource keeps it.
        try:
            from_environment = settings.calls_per_minute()
        except ValueError as error:
            raise dg.Failure(description=str(error), allow_retries=False) from None
        if from_environment is not None:
            return from_environment
        return calls_per_minute_for_points(self.points)

    def resolved_token(self) -> str:
        token = (self.token or os.environ.get(settings.TUSHARE_TOKEN_ENV, "")).strip()
        if not token:
            # One line naming the fix, before any call: the run fails in seconds, not after retries.
            raise dg.Failure(
                description=f"{settings.TUSHARE_TOKEN_ENV} is not set: export {settings.TUSHARE_TOKEN_ENV}=<your "
                "token from https://tushare.pro/user/token> where Dagster runs, or run `bash scripts/ui.sh` for "
                "the offline demo with the bundled server.",
                allow_retries=False,
            )
        return token

    def client(self, warehouse: WarehouseResource) -> TushareClient:
        """A client whose call budget lives in `budget_db_url`, else in `warehouse`'s database."""
        budget = CallBudget(
            self.budget_db_url or warehouse.resolved_url(),
            self.budget_per_minute(),
            self.calls_per_minute_by_api,
            window_seconds=self.rate_window_seconds,
        )
        return TushareClient(
            self.resolved_token(),
            self.api_url or settings.tushare_api_url(),
            timeout=self.timeout_seconds,
            max_attempts=self.max_attempts,
            backoff_seconds=self.backoff_seconds,
            max_backoff_seconds=self.max_backoff_seconds,
            rate_limit_cooldown_seconds=self.rate_limit_cooldown_seconds,
            budget=budget,
            log=dg.get_dagster_logger(),
        )


class SyncPolicyResource(dg.ConfigurableResource):
    """How far back statements go, how failures are retried and gaps filled (the old service's settings)."""

    finance_start_date: str = Field(default="2000-01-01", description="Statements announced since this date.")
    max_retries_per_stock: int = Field(default=3, description="Retries of a failed stock before it is given up.")
    retry_backoff_seconds: int = Field(
        default=900, description="Wait before the first retry of a failed stock; doubles with each attempt."
    )
    max_compensation_days: int = Field(
        default=10, description="Trading days back the gap sensor looks for missing or failed dates."
    )
    max_gap_attempts: int = Field(
        default=4, description="Runs the gap sensor requests for one missing date before it gives the date up."
    )
    gap_backoff_seconds: int = Field(
        default=1200, description="Wait before the gap sensor asks for a date again; doubles with each attempt."
    )
    max_disclosure_requests: int = Field(
        default=6,
        description="Runs the disclosure sensor requests for a disclosed report before, still finding no version "
        "of it stored, it writes the stock to sync_failure (then retried by statement_retry_sensor).",
    )
    disclosure_backoff_seconds: int = Field(
        default=900,
        description="Wait before the disclosure sensor asks again for a report disclosed but not yet served "
        "(statements appear the evening of their disclosure); doubles with each request.",
    )
    late_correction_days: int = Field(
        default=5, description="Trading days of adj_factor and daily_basic re-synced each evening."
    )
    statement_report_types: list[str] = Field(
        default_factory=lambda: list(DEFAULT_REPORT_TYPES),
        description="Statement report types fetched, one call per stock each: 1 the latest statement, 5 the "
        "original of a changed one (both needed for point-in-time reads), 4 restated prior-year comparatives.",
    )
    max_failed_share: float = Field(
        default=0.05,
        description="A statement run in which more than this share of its stocks failed is a failed run.",
    )
