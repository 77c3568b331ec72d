"""RFC 9457 problem+json for every error the API returns, including FastAPI's own 404/405/422."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.schemas import Problem

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://gld8tr.dev/problems/"


class ProblemError(Exception):
    """Raise anywhere in a request to answer with a problem document."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        slug: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = PROBLEM_BASE + slug if slug else "about:blank"
        self.headers = headers or {}


def problem_response(
    status: int, title: str, detail: str | None, *, instance: str | None, type_: str = "about:blank",
    headers: dict[str, str] | None = None, extra: dict | None = None,
) -> JSONResponse:
    body = Problem(type=type_, title=title, status=status, detail=detail, instance=instance).model_dump(
        exclude_none=True
    )
    body.update(extra or {})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(
            exc.status, exc.title, exc.detail, instance=request.url.path, type_=exc.type, headers=exc.headers
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        from http import HTTPStatus

        title = HTTPStatus(exc.status_code).phrase
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else None
        return problem_response(exc.status_code, title, detail, instance=request.url.path, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{'.'.join(e['loc'][1:]) or e['loc'][0]}: {e['msg']}" for e in errors) or None
        return problem_response(
            422, "Invalid request", detail, instance=request.url.path, type_=PROBLEM_BASE + "invalid-request",
            extra={"errors": errors},
        )

    # Everything else (503 for an unavailable Redis, broker or S3; 500 for bugs) is answered by
    # ``api.middleware.ErrorResponses``, which, unlike an ``Exception`` handler, does not re-raise: Starlette's
    # ServerErrorMiddleware would send the 500 and then let the server drop the keep-alive connection.
