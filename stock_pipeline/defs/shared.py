"""What every domain's assets and automation share: how a step fails, reads its partitions, reports its
calls, and tells a resumable run from a finished one."""

import contextlib
import functools
import hashlib
import time
from collections.abc import Callable, Iterable

import dagster as dg

from stock_pipeline import sync
from stock_pipeline.resources import TushareResource
from stock_pipeline.tushare.client import TushareClient
from stock_pipeline.tushare.errors import TushareError, TushareUnavailableError

KINDS = {"tushare", "sql"}
# Which automation requested a run: sensors tell their own runs apart by it.
TRIGGER_TAG = "stock_pipeline/trigger"
# Tags that make one run cover a range of partitions (what backfills with a single-run policy set).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


@contextlib.contextmanager
def failing_clearly(tushare: TushareResource):
    """Retry the step when the service stayed unavailable through the client's own retries; turn
    every other sync error (a server that never answered included) into a failure without retries.

    The wait before a step retry is spent here, in the idle step process: a retry requested with a wait
    leaves Dagster's multiprocess executor spinning a full core for the whole wait (measured: 120 s)."""
    try:
        yield
    except TushareUnavailableError as error:
        if dg.OpExecutionContext.get().retry_number >= tushare.step_retries:
            raise dg.Failure(description=str(error), allow_retries=False) from error
        dg.get_dagster_logger().warning(
            f"{error}; retrying the step in {tushare.step_retry_delay_seconds:.0f}s (the dates or stocks committed "
            "so far are not fetched again)"
        )
        time.sleep(tushare.step_retry_delay_seconds)
        raise dg.RetryRequested(max_retries=tushare.step_retries) from error
    except (TushareError, sync.CalendarGapError) as error:
        raise dg.Failure(description=str(error), allow_retries=False) from error


def partition_keys(context: dg.AssetExecutionContext) -> list[str]:
    """The run's partition keys; an empty range (start after end) is an input error, not a no-op."""
    keys = context.partition_keys
    if not keys:
        key_range = context.partition_key_range
        raise dg.Failure(
            f"The partition range {key_range.start}...{key_range.end} is empty: its start must not be after its end.",
            allow_retries=False,
        )
    return keys


def call_metadata(client: TushareClient, elapsed: float) -> dict[str, object]:
    stats = client.stats
    return {
        "api_calls": stats.total_calls(),
        "pages": sum(stats.pages.values()),
        "retries": sum(stats.retries.values()),
        "budget_wait_seconds": round(stats.budget_wait_seconds, 2),
        "elapsed_seconds": round(elapsed, 2),
        "source": "SYNTHETIC (bundled offline server)" if stats.synthetic else "Tushare Pro",
    }


def unfinished_runs(instance: dg.DagsterInstance) -> Callable[[str], bool]:
    """Whether a run did not finish (failed, cancelled, crashed or still going): its commits are resumed
    after, not refreshed. A run the instance does not know counts as finished: its dates are refetched."""

    @functools.cache
    def is_unfinished(run_id: str) -> bool:
        run = instance.get_run_by_id(run_id)
        return run is not None and run.status != dg.DagsterRunStatus.SUCCESS

    return is_unfinished


def digest(values: Iterable[str]) -> str:
    """A short stable name for a set of values (run keys of sensor requests)."""
    return hashlib.sha1("\n".join(sorted(values)).encode()).hexdigest()[:12]


def due(attempts: int, last_requested: float, backoff_seconds: float, now: float) -> bool:
    """Whether a thing requested `attempts` times, last at `last_requested`, may be asked for again."""
    return attempts == 0 or now >= last_requested + backoff_seconds * 2 ** (attempts - 1)


def runs_in_flight(instance: dg.DagsterInstance, tags: dict[str, str] | None = None) -> list[dg.DagsterRun]:
    records = instance.get_run_records(dg.RunsFilter(statuses=IN_FLIGHT, tags=tags or {}))
    return [record.dagster_run for record in records]
