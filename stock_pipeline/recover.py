"""Recover after a crash: `python -m stock_pipeline.recover --all-in-progress` (or `--run-id ID`).

When a machine dies or a run's processes are killed, Dagster's storage still shows the run as in
progress, and the pool slots its steps held (one writer per dataset) stay taken, so later runs of those
datasets would wait forever. This marks such runs failed and frees their slots. Nothing in the warehouse
needs repair: each partition is written in one transaction, and a partition is only marked done after.
Then resume: run the same `dagster asset materialize` command again, or re-execute the backfill from
failure.
"""

import argparse

import dagster as dg

IN_PROGRESS = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def recover(instance: dg.DagsterInstance, run_ids: list[str] | None) -> list[str]:
    """Mark the given (or every in-progress) run failed and free its pool slots; returns their ids."""
    filters = dg.RunsFilter(run_ids=run_ids) if run_ids else dg.RunsFilter(statuses=IN_PROGRESS)
    recovered = []
    for run in instance.get_runs(filters):
        if run.status in IN_PROGRESS:
            instance.report_run_failed(run, "Marked failed by stock_pipeline.recover: its processes are gone.")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        recovered.append(run.run_id)
    return recovered


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stock_pipeline.recover", description=__doc__.split("\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--run-id", action="append", help="a run whose processes are gone (repeatable)")
    group.add_argument(
        "--all-in-progress",
        action="store_true",
        help="every run shown as in progress: use only when nothing is running (e.g. after a reboot)",
    )
    args = parser.parse_args(argv)
    recovered = recover(dg.DagsterInstance.get(), args.run_id)
    print(f"Recovered {len(recovered)} run(s): {', '.join(recovered) or 'none'}")


if __name__ == "__main__":
    main()
