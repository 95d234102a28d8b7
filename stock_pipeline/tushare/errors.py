"""Tushare answers every failure as HTTP 200 with a non-zero `code` and a Chinese `msg`; the code is
shared by unrelated errors (40203 is both "no permission" and "rate limited"), so errors are told apart
by their text, the way every client of the real service has to."""


class TushareError(Exception):
    """Base class. `retryable` errors are retried with backoff; the others fail at once."""

    retryable = False

    def __init__(self, message: str, *, api_name: str | None = None, code: int | None = None):
        self.api_name = api_name
        self.code = code
        prefix = f"Tushare `{api_name}`: " if api_name else "Tushare: "
        super().__init__(prefix + message)


class TushareAuthError(TushareError):
    """Bad, expired or missing token."""


class TusharePermissionError(TushareError):
    """The account lacks the points or the separate permission the API needs."""


class TushareParameterError(TushareError):
    """A missing or invalid request parameter."""


class TushareUnknownApiError(TushareError):
    """The API name does not exist on the server."""


class TushareQuotaError(TushareError):
    """A per-day quota is spent; retrying within the day cannot help."""


class TushareHourlyLimitError(TushareQuotaError):
    """An hourly limit is spent: retrying within the minute cannot help, so it stops like a quota."""


class TushareSchemaError(TushareError):
    """The answer is well-formed JSON but not what was asked for (missing fields, wrong types)."""


class TusharePagingError(TushareSchemaError):
    """Pages that do not advance (the same rows again) or never end."""


class TushareRateLimitError(TushareError):
    """Per-minute budget exceeded on the server; retried after a cool-down."""

    retryable = True


class TushareServerError(TushareError):
    """Tushare's own "server error, try again later" messages."""

    retryable = True


class TushareTransportError(TushareError):
    """HTTP 5xx, timeouts, connection resets, non-JSON or cut-off bodies."""

    retryable = True


class TushareUnreachableError(TushareError):
    """Nothing answers at the API URL (connection refused, host not found) before any answer came from it:
    a wrong URL or a server not started, which retrying cannot fix."""


class TushareUnavailableError(TushareError):
    """Transient failures persisted through every retry."""


class TushareNotPublishedError(TushareError):
    """An open trading day answered with no rows: not published yet (or a fault), never "no data"."""


def classify(code: int, msg: str | None, api_name: str) -> TushareError:
    """Map a non-zero answer to the error class its message denotes."""
    text = msg or f"error code {code} without a message"
    kinds: list[tuple[tuple[str, ...], type[TushareError]]] = [
        (("token不对", "token无效", "请设置tushare pro的token"), TushareAuthError),
        (("每天最多访问", "次/天"), TushareQuotaError),
        (("每小时最多访问", "次/小时"), TushareHourlyLimitError),
        (("每分钟最多访问", "每分最多访问", "频率超限"), TushareRateLimitError),
        (("权限",), TusharePermissionError),
        (("请指定正确的接口名", "抱歉，没有"), TushareUnknownApiError),
        (("IP数量超限", "恶意行为"), TusharePermissionError),
        (("required", "不包含字段", "参数"), TushareParameterError),
        (("服务器错误", "系统内部错误", "系统未知错误", "稍后再试"), TushareServerError),
    ]
    for needles, error_class in kinds:
        if any(needle in text for needle in needles):
            return error_class(f"{text} (code {code})", api_name=api_name, code=code)
    # An unrecognised non-zero code: treat it like a server error so a transient fault gets its retries,
    # while a persistent one still fails with Tushare's own text once the retries are spent.
    return TushareServerError(f"{text} (code {code})", api_name=api_name, code=code)
