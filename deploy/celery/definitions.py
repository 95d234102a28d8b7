"""The code location for Celery scale-out: the project's definitions, whose steps run on Celery workers.

Everything but the executor is `stock_pipeline.definitions.defs` as it is. The executor's settings (broker,
result backend, transport options) come from celery.yaml next to this file, the same file the workers are
started with, so a run and the workers cannot disagree on the broker.
"""

from pathlib import Path

import dagster as dg
import yaml
from dagster_celery import celery_executor

from stock_pipeline import definitions as project

CELERY_YAML = Path(__file__).with_name("celery.yaml")


def celery_config(path: Path = CELERY_YAML) -> dict:
    """The `execution.config` block that `dagster-celery worker start -y` reads from the same file."""
    return yaml.safe_load(path.read_text())["execution"]["config"]


defs = dg.Definitions(
    assets=project.defs.assets,
    asset_checks=project.defs.asset_checks,
    jobs=project.defs.jobs,
    schedules=project.defs.schedules,
    sensors=project.defs.sensors,
    resources=project.defs.resources,
    loggers=project.defs.loggers,
    metadata=project.defs.metadata,
    executor=celery_executor.configured(celery_config()),
)
