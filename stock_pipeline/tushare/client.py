"""A Tushare Pro client that never mistakes a failure for an empty answer.

It speaks the same wire protocol as the official `tushare` client (`POST <base>/<api_name>` with
`{api_name, token, params, fields}`), but unlike it: HTTP errors raise instead of becoming empty frames,
transient failures are retried with exponential backoff and jitter, terminal errors fail at once, rate
limits are respected through a shared budget, and answers are paged with offset/limit until complete:
whenever a page holds as many rows as the cap, whatever `has_more` says (the service has answered
truncated pages with `has_more: false`), and until an empty page when the caller asks to confirm. A page
that repeats the previous one (a server ignoring `offset`) or more than `max_pages` pages stop with an
error instead of looping.

Fields the service leaves out of an answer are not an error here: the real service silently drops
retired or unknown fields. The frame says which requested fields were missing and which came unasked.
"""

import json
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests
import urllib3

from stock_pipeline.tushare.errors import (
    TushareAuthError,
    TushareError,
    TusharePagingError,
    TushareQuotaError,
    TushareRateLimitError,
    TushareSchemaError,
    TushareTransportError,
    TushareUnavailableError,
    TushareUnreachableError,
    classify,
)
from stock_pipeline.tushare.rate_limit import CallBudget

# More pages than this for one request means a server that does not advance: stop, do not loop.
MAX_PAGES = 500


@dataclass
class TushareFrame:
    """A complete answer: every page concatenated, fields in the server's order."""

    api_name: str
    fields: tuple[str, ...]
    items: list[list[Any]]
    # Requested fields the answer did not carry, and fields it carried unasked.
    missing_fields: tuple[str, ...] = ()
    extra_fields: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.items)


@dataclass
class CallStats:
    """What the client spent, for materialization metadata and benchmarks."""

    calls: Counter = field(default_factory=Counter)
    pages: Counter = field(default_factory=Counter)
    retries: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    budget_wait_seconds: float = 0.0
    synthetic: bool = False

    def total_calls(self) -> int:
        return sum(self.calls.values())


@dataclass
class _Page:
    fields: tuple[str, ...]
    items: list[list[Any]]
    has_more: bool | None


class TushareClient:
    def __init__(
        self,
        token: str,
        api_url: str,
        *,
        timeout: float = 30.0,
        max_attempts: int = 6,
        backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 60.0,
        rate_limit_cooldown_seconds: float = 61.0,
        budget: CallBudget | None = None,
        log: logging.Logger | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._token = (token or "").strip()
        self._api_url = api_url.rstrip("/")
        self._timeout = timeout
        self._max_attempts = max(1, max_attempts)
        self._backoff = backoff_seconds
        self._max_backoff = max_backoff_seconds
        self._cooldown = rate_limit_cooldown_seconds
        self._budget = budget
        self._log = log or logging.getLogger(__name__)
        self._sleep = sleep
        self._session = requests.Session()
        # Whether the server has answered this client yet: a refused connection before that is a wrong URL
        # or a server not started (fail at once); after it, a restart or a blip (retried).
        self._answered = False
        self.stats = CallStats()

    def query(
        self,
        api_name: str,
        params: Mapping[str, Any] | None = None,
        fields: Sequence[str] = (),
        row_cap: int | None = None,
        *,
        confirm: bool = False,
        expected_rows: int | None = None,
        by_offset: bool = True,
    ) -> TushareFrame:
        """Fetch the whole answer for one request, paging past the row cap.

        `confirm`: ask for the next page until an empty one, whatever the first pages held.
        `expected_rows`: an answer with fewer rows is confirmed the same way before it is believed (a
        cap lower than declared truncates silently); a complete answer costs no extra call.
        `by_offset=False`: one call, no paging; the caller pages by narrowing its date window instead.
        """
        base_params = {key: value for key, value in (params or {}).items() if value is not None}
        page = self._call(api_name, base_params, fields)
        answer = TushareFrame(
            api_name,
            page.fields,
            list(page.items),
            missing_fields=tuple(name for name in fields if name not in page.fields),
            extra_fields=tuple(name for name in page.fields if fields and name not in fields),
        )
        pages, confirming = 1, confirm
        while by_offset and page.items:
            if not (confirming or self._has_more(page, row_cap)):
                if expected_rows is None or len(answer) >= expected_rows:
                    break
                confirming = True  # a short answer: from here on, only an empty page ends it
            if pages >= MAX_PAGES:
                raise TusharePagingError(f"more than {MAX_PAGES} pages for {dict(base_params)}", api_name=api_name)
            paged = {**base_params, "offset": len(answer.items), "limit": row_cap or len(page.items)}
            previous, page = page, self._call(api_name, paged, fields)
            pages += 1
            self.stats.pages[api_name] += 1
            if page.fields != answer.fields:
                raise TushareSchemaError(
                    f"page at offset {paged['offset']} has fields {list(page.fields)}, "
                    f"the first page had {list(answer.fields)}",
                    api_name=api_name,
                )
            if page.items and page.items == previous.items:
                raise TusharePagingError(
                    f"the page at offset {paged['offset']} repeats the previous page: the server ignores "
                    "`offset`, so the answer cannot be completed; nothing was stored",
                    api_name=api_name,
                )
            answer.items.extend(page.items)
        return answer

    @staticmethod
    def _has_more(page: _Page, row_cap: int | None) -> bool:
        # A full page means "maybe more" whatever `has_more` says; `has_more` alone also pages.
        return bool(page.has_more) or (row_cap is not None and len(page.items) >= row_cap)

    def _call(self, api_name: str, params: Mapping[str, Any], fields: Sequence[str]) -> _Page:
        if not self._token:
            raise TushareAuthError(
                "no token configured: set the TUSHARE_TOKEN environment variable to your Tushare Pro token",
                api_name=api_name,
            )
        for attempt in range(1, self._max_attempts + 1):
            try:
                return self._call_once(api_name, params, fields)
            except TushareError as error:
                self.stats.errors[type(error).__name__] += 1
                if isinstance(error, TushareQuotaError) and error.code is not None and self._budget is not None:
                    # The service's own answer (not our budget's refusal): stop every process for the period.
                    self._budget.block(error)
                if not error.retryable:
                    raise
                if attempt == self._max_attempts:
                    raise TushareUnavailableError(
                        f"still failing after {attempt} attempts, last error: {error}", api_name=api_name
                    ) from error
                delay = self._retry_delay(attempt, error)
                self.stats.retries[api_name] += 1
                self._log.warning(
                    "Tushare %s attempt %d/%d failed (%s); retrying in %.1fs",
                    api_name,
                    attempt,
                    self._max_attempts,
                    error,
                    delay,
                )
                self._sleep(delay)
        raise AssertionError("unreachable")

    def pause(self, api_name: str, attempt: int, reason: str) -> None:
        """Back off before asking again for a reason the caller judged transient; counts as a retry."""
        delay = self._retry_delay(attempt, None)
        self.stats.retries[api_name] += 1
        self._log.warning("Tushare %s: %s; asking again in %.1fs", api_name, reason, delay)
        self._sleep(delay)

    def _retry_delay(self, attempt: int, error: TushareError | None) -> float:
        if isinstance(error, TushareRateLimitError):
            # The server's window is a sliding minute that also counts rejected calls: wait it out.
            return self._cooldown
        ceiling = min(self._max_backoff, self._backoff * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)

    def _call_once(self, api_name: str, params: Mapping[str, Any], fields: Sequence[str]) -> _Page:
        if self._budget is not None:
            self.stats.budget_wait_seconds += self._budget.acquire(api_name)
        self.stats.calls[api_name] += 1
        body = {"api_name": api_name, "token": self._token, "params": dict(params), "fields": ",".join(fields)}
        url = f"{self._api_url}/{api_name}"
        try:
            response = self._session.post(url, json=body, timeout=self._timeout)
            text = response.text
        except requests.Timeout:
            raise TushareTransportError(f"no answer within {self._timeout}s from {url}", api_name=api_name) from None
        except requests.ConnectionError as error:
            refusal = _refusal(error)
            if refusal and not self._answered:
                raise TushareUnreachableError(
                    f"cannot reach {self._api_url} ({refusal}): set TUSHARE_API_URL to the Tushare data API "
                    "(default http://api.waditu.com/dataapi) or start the server it names",
                    api_name=api_name,
                ) from None
            raise TushareTransportError(
                f"cannot reach {url} ({type(error).__name__}); check TUSHARE_API_URL and the network",
                api_name=api_name,
            ) from None
        except requests.RequestException as error:
            raise TushareTransportError(
                f"cannot reach {url} ({type(error).__name__}); check TUSHARE_API_URL and the network",
                api_name=api_name,
            ) from None
        finally:
            if self._budget is not None:
                self._budget.finished(api_name)  # the server counted the call before this answer
        self._answered = True
        if response.status_code == 429:
            raise TushareRateLimitError(f"HTTP 429 from {url}", api_name=api_name)
        if response.status_code >= 500:
            raise TushareTransportError(f"HTTP {response.status_code} from {url}", api_name=api_name)
        if response.status_code >= 400:
            raise TushareError(
                f"HTTP {response.status_code} from {url}: is TUSHARE_API_URL the Tushare data API base "
                "(e.g. http://api.waditu.com/dataapi)?",
                api_name=api_name,
            )
        try:
            answer = json.loads(text)
        except ValueError:
            raise TushareTransportError(
                f"answer is not valid JSON (cut off or not Tushare), {len(text)} bytes: {text[:80]!r}",
                api_name=api_name,
            ) from None
        return self._parse(api_name, answer, fields)

    def _parse(self, api_name: str, answer: Any, fields: Sequence[str]) -> _Page:
        if not isinstance(answer, dict) or "code" not in answer:
            raise TushareSchemaError(f"answer has no `code`: {str(answer)[:120]}", api_name=api_name)
        if answer.get("synthetic"):
            self.stats.synthetic = True
        if answer["code"] != 0:
            raise classify(answer["code"], answer.get("msg"), api_name)
        data = answer.get("data")
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("fields"), list)
            or not isinstance(data.get("items"), list)
        ):
            raise TushareSchemaError(
                f"answer with code 0 lacks data.fields/data.items: {str(answer)[:120]}", api_name=api_name
            )
        answer_fields = tuple(data["fields"])
        width = len(answer_fields)
        for index, item in enumerate(data["items"]):
            if not isinstance(item, list) or len(item) != width:
                raise TushareSchemaError(
                    f"row {index} has {len(item) if isinstance(item, list) else 'no'} values for {width} fields",
                    api_name=api_name,
                )
        has_more = data.get("has_more")
        return _Page(answer_fields, data["items"], has_more if isinstance(has_more, bool) else None)

    def close(self) -> None:
        self._session.close()


def _refusal(error: requests.ConnectionError) -> str | None:
    """ "connection refused" or "host not found" when no connection could be opened at all (not a timeout,
    a reset or a cut-off answer); None otherwise."""
    cause = error.args[0] if error.args else None
    reason = getattr(cause, "reason", cause)  # requests wraps urllib3's MaxRetryError around the cause
    if isinstance(reason, urllib3.exceptions.NameResolutionError):
        return "host not found"
    if isinstance(reason, urllib3.exceptions.NewConnectionError):
        return "connection refused" if "refused" in str(reason).lower() else "no connection"
    return None
