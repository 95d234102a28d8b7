import dagster as dg

from stock_pipeline import settings
from stock_pipeline.defs.financials.jobs import disclosure_date_job

# Statements are published on the evening of their disclosure (21:00-23:00 Shanghai time).
disclosure_date_schedule = dg.ScheduleDefinition(
    job=disclosure_date_job,
    cron_schedule="30 17,21,23 * * *",
    execution_timezone=settings.TIMEZONE,
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
