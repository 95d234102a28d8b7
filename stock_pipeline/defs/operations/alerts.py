"""Operations: the alerting hook every failed run and every late dataset goes through."""

import json
import os

import dagster as dg
import requests
from pydantic import Field

from stock_pipeline.defs.shared import RANGE_END_TAG, RANGE_START_TAG

ALERT_WEBHOOK_ENV = "STOCK_PIPELINE_ALERT_WEBHOOK"


class AlertResource(dg.ConfigurableResource):
    """Where failed runs and late data are reported: the sensors' logs, plus a webhook when configured."""

    webhook_url: str | None = Field(
        default=None, description=f"URL that receives each alert as a JSON POST; default: ${ALERT_WEBHOOK_ENV}."
    )
    freshness_grace_minutes: int = Field(
        default=90,
        description="How long after its publication time a trading-date dataset may be missing before "
        "market_freshness_sensor alerts (90: daily, published at 17:00, is late at 18:30 Asia/Shanghai).",
    )

    def send(self, message: dict) -> None:
        url = self.webhook_url or os.environ.get(ALERT_WEBHOOK_ENV)
        if url:
            requests.post(url, json=message, timeout=10).raise_for_status()


@dg.run_failure_sensor(
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="The alerting hook: logs every failed run and posts it to AlertResource's webhook if set.",
)
def run_failure_alert_sensor(context: dg.RunFailureSensorContext, alerts: AlertResource):
    run = context.dagster_run
    message = {
        "run_id": run.run_id,
        "job": run.job_name,
        "partition": run.tags.get("dagster/partition")
        or "...".join(filter(None, (run.tags.get(RANGE_START_TAG), run.tags.get(RANGE_END_TAG)))),
        "error": context.failure_event.message,
    }
    context.log.error(f"Run failed: {json.dumps(message, ensure_ascii=False)}")
    alerts.send(message)
