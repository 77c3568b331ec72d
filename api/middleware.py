"""ASGI middleware: the request-body cap (before any parsing), HTTP latency metrics, and the last-resort error
answers (503 + Retry-After when a dependency is down, 500 otherwise)."""

from __future__ import annotations

import contextlib
import json
import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import PROBLEM_BASE, PROBLEM_MEDIA_TYPE
from service.infra import RETRY_AFTER_S, is_unavailable

log = logging.getLogger(__name__)


class _TooLarge(Exception):
    pass


async def _send_problem(send: Send, problem: dict, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps(problem).encode()
    await send({"type": "http.response.start", "status": problem["status"],
                "headers": [(b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                            (b"content-length", str(len(body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


async def _send_413(send: Send, limit: int, path: str) -> None:
    await _send_problem(send, {
        "type": PROBLEM_BASE + "too-large", "title": "Content Too Large", "status": 413,
        "detail": f"request bodies may be at most {limit} bytes", "instance": path,
    }, [(b"connection", b"close")])


class ErrorResponses:
    """The answer to any exception a route let through: ``503`` problem + ``Retry-After`` if Redis, the broker or
    S3 is unavailable (``service.infra.is_unavailable``; the client should simply retry), else ``500``.

    Why a middleware: an ``Exception`` handler runs in Starlette's ServerErrorMiddleware, which re-raises after
    answering, and uvicorn then closes the keep-alive connection without ``Connection: close``, so a pooled
    client's next request fails. Here the exception ends with the answer and the connection stays usable. If
    the answer had already started there is nothing left to say: the exception goes on (the server closes).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise
            path = scope.get("path", "")
            if is_unavailable(exc):
                log.warning("%s %s: dependency unavailable: %s: %s", scope["method"], path, type(exc).__name__, exc)
                await _send_problem(send, {
                    "type": PROBLEM_BASE + "unavailable", "title": "Service Unavailable", "status": 503,
                    "detail": "a backing service (job store, queue or storage) is unreachable; retry later",
                    "instance": path,
                }, [(b"retry-after", str(RETRY_AFTER_S).encode())])
                return
            log.error("unhandled error on %s %s", scope["method"], path, exc_info=exc)
            await _send_problem(send, {"type": "about:blank", "title": "Internal Server Error", "status": 500,
                                       "instance": path})


class BodySizeLimit:
    """Refuse bodies over ``max_bytes``: at once from Content-Length, or as soon as a chunked body passes it.

    The multipart parser never sees more than the limit, so an oversized upload costs no disk and no decoding.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _send_413(send, self.max_bytes, scope.get("path", ""))
            return
        seen = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    exceeded = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:  # whatever the app makes of the aborted body, the answer is 413
                return
            started = True
            await send(message)

        with contextlib.suppress(_TooLarge):
            await self.app(scope, limited_receive, guarded_send)
        if exceeded and not started:
            await _send_413(send, self.max_bytes, scope.get("path", ""))


class LatencyMetrics:
    """Observe every request's duration under its route template (``/scenes/{job_id}``), not its raw path."""

    def __init__(self, app: ASGIApp, metrics: object) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe(scope["method"], template, status[0], started)  # type: ignore[attr-defined]
