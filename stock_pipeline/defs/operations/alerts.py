"""Operations: the alerting hook every failed run goes through."""

import json

import dagster as dg
import requests

from stock_pipeline.defs.shared import RANGE_END_TAG, RANGE_START_TAG


class AlertResource(dg.ConfigurableResource):
    """Where run failures are reported: the run-failure sensor's log, plus a webhook when configured."""

    webhook_url: str | None = None

    def send(self, message: dict) -> None:
        if self.webhook_url:
            requests.post(self.webhook_url, json=message, timeout=10).raise_for_status()


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
