"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import ServiceDep
from service.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, operation_id="healthz", summary="The process is up")
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    responses={503: {"model": Health}},
    operation_id="readyz",
    summary="Broker, storage and at least one worker are reachable",
)
async def readyz(service: ServiceDep) -> Response:
    def check() -> dict[str, str]:
        checks: dict[str, str] = {}
        for name, probe in (("store", service.store.ping), ("broker", service.runner.ping),
                            ("storage", service.storage.ping)):
            try:
                probe()
                checks[name] = "ok"
            except Exception as exc:
                checks[name] = f"error: {type(exc).__name__}"
        try:
            workers = service.runner.live_workers()
            checks["workers"] = f"{len(workers)} live" if workers else "error: no live worker"
        except Exception as exc:
            checks["workers"] = f"error: {type(exc).__name__}"
        return checks

    checks = await asyncio.to_thread(check)
    ok = all(not v.startswith("error") for v in checks.values())
    body = Health(status="ok" if ok else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get("/metrics", operation_id="metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    data = await asyncio.to_thread(generate_latest, request.app.state.metrics.registry)
    return Response(data, media_type=CONTENT_TYPE_LATEST)
