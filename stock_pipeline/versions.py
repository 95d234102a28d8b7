"""Which statement rows are the same version, and from which day each version counts as public.

Tushare keeps every version of a report: revisions with later dates, originals of changed statements
(`report_type` 5), restated comparatives (type 4), and corrections that carry the original's dates
(income 000001.SZ 2018H1: two rows with the same `ann_date` and `f_ann_date`, differing only in
`update_flag` and `ebit`). Two rules follow:

- Identity. A version is its values, not its label: `update_flag` flips from 1 to 0 when a newer
  revision arrives, so it is left out; numbers are compared as numbers (`1` is `1.0`); and fields added
  to a declaration after versions were stored are left out, so that adding one does not duplicate
  history.
- Publication. A version counts as known from the later of its announcement dates. A correction that
  cannot be dated from the data (it shares an already stored version's dates, or is flagged as the
  correction of a same-dated pair) counts as known from the day the warehouse first stored it. When the
  data cannot tell the original from the correction (same dates, no flag to tell them apart, first seen
  together), neither is trusted before that day: a backfill loaded after the fact cannot know which of
  them was public first.
"""

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from stock_pipeline.datasets import TushareDataset

UPDATE_FLAG = "update_flag"
CORRECTION_FLAG = "1"
ANNOUNCEMENT_DATES = ("ann_date", "f_ann_date")


def identity_fields(dataset: TushareDataset, added_later: Iterable[str] = ()) -> tuple[str, ...]:
    """The fields whose values make a version: all declared ones but the flag and later additions."""
    excluded = {UPDATE_FLAG, *added_later}
    return tuple(name for name in dataset.fields if name not in excluded)


def version_hash(row: Mapping[str, object], fields: Sequence[str], kinds: Mapping[str, str]) -> str:
    """A digest of the identity fields; numbers normalised so that `1` and `1.0` are one version."""
    values = []
    for name in fields:
        value = row.get(name)
        if value is not None and kinds[name] == "float":
            value = float(value)
        values.append(value)
    payload = json.dumps(values, separators=(",", ":"), ensure_ascii=False)
    return hashlib.md5(payload.encode(), usedforsecurity=False).hexdigest()


def announced(row: Mapping[str, object]) -> str | None:
    """The later of a version's announcement dates (YYYYMMDD), or None when it has neither."""
    dates = [row.get(name) for name in ANNOUNCEMENT_DATES if row.get(name)]
    return max(dates) if dates else None  # type: ignore[type-var]


def report_of(row: Mapping[str, object]) -> tuple:
    return (row.get("ts_code"), row.get("end_date"), row.get("report_type"))


@dataclass(frozen=True)
class StoredVersion:
    report: tuple
    announced: str | None


def known_from(
    new_versions: Mapping[str, Mapping[str, object]], stored: Iterable[StoredVersion], first_seen: date
) -> dict[str, str]:
    """The first day (YYYYMMDD) each new version counts as public, by the rules in the module doc."""
    seen_day = first_seen.strftime("%Y%m%d")
    stored_dates = {(version.report, version.announced) for version in stored}
    groups: dict[tuple, list[str]] = defaultdict(list)
    for digest, row in new_versions.items():
        groups[(report_of(row), announced(row))].append(digest)
    result = {}
    for (report, day), digests in groups.items():
        undatable = max(day or seen_day, seen_day)
        if day is None or (report, day) in stored_dates:
            result |= dict.fromkeys(digests, undatable)
        elif len(digests) == 1:
            result[digests[0]] = day
        else:
            unflagged = [digest for digest in digests if new_versions[digest].get(UPDATE_FLAG) != CORRECTION_FLAG]
            result |= dict.fromkeys(digests, undatable)
            if len(unflagged) == 1:
                result[unflagged[0]] = day  # the one original among flagged corrections
    return result
