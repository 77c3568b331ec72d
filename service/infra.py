"""Is this exception "a dependency is unavailable for now" (Redis, the broker, S3), or something else?

One answer for the whole service: the API turns such errors into ``503`` + ``Retry-After`` (the client should
try again), the worker into a retry with backoff (the job is fine, the infrastructure blinked). Everything else
is a bug or a bad request and must not be retried forever. S3 answers ``5xx`` (``InternalError``,
``ServiceUnavailable``, ``SlowDown``) while it restarts or is overloaded: those count as unavailable too.
Torch-free; the client libraries are imported only if installed.
"""

from __future__ import annotations

from functools import lru_cache

RETRY_AFTER_S = 10
"""What a ``503`` tells the client to wait before trying again (seconds)."""

_S3_RETRYABLE_CODES = frozenset({"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout",
                                 "RequestTimeTooSkewed", "500", "502", "503", "504"})


@lru_cache(maxsize=1)
def unavailable_types() -> tuple[type[BaseException], ...]:
    """Exception classes that always mean an unreachable or overloaded dependency."""
    types: list[type[BaseException]] = [ConnectionError, TimeoutError]
    try:
        import redis

        types += [redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError]
    except ImportError:
        pass
    try:
        from kombu.exceptions import OperationalError

        types.append(OperationalError)
    except ImportError:
        pass
    try:
        from botocore.exceptions import (
            ConnectionClosedError,
            ConnectTimeoutError,
            EndpointConnectionError,
            ReadTimeoutError,
        )

        types += [EndpointConnectionError, ConnectionClosedError, ReadTimeoutError, ConnectTimeoutError]
    except ImportError:
        pass
    return tuple(types)


def _s3_server_error(exc: BaseException) -> bool:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    code = str(response.get("Error", {}).get("Code", ""))
    return int(status) >= 500 or code in _S3_RETRYABLE_CODES


def is_unavailable(exc: BaseException) -> bool:
    """True if ``exc`` (or an exception it was raised from, e.g. boto3's ``S3UploadFailedError`` around a
    ``ClientError``) says a dependency is unreachable, timing out or answering 5xx."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, unavailable_types()) or _s3_server_error(current):
            return True
        current = current.__cause__ or current.__context__
    return False
