"""The check every Tushare asset carries: did the answers hold every declared field."""

import dagster as dg

from stock_pipeline.datasets import TushareDataset

UPSTREAM_FIELDS = "upstream_fields"


def upstream_fields_spec(dataset: TushareDataset) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        UPSTREAM_FIELDS,
        asset=dataset.api_name,
        description="Every declared field came in the answers (a field the service dropped is stored as NULL).",
    )


def upstream_fields_result(missing: set[str], extra: set[str]) -> dg.AssetCheckResult:
    """WARN when answers lacked declared fields: they are stored as NULL, so say which."""
    return dg.AssetCheckResult(
        check_name=UPSTREAM_FIELDS,
        passed=not missing,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "fields_missing_upstream": ", ".join(sorted(missing)),
            "fields_unrequested": ", ".join(sorted(extra)),
        },
    )


def drift_metadata(missing: set[str], extra: set[str]) -> dict[str, str]:
    return {"fields_missing_upstream": ", ".join(sorted(missing)), "fields_unrequested": ", ".join(sorted(extra))}
