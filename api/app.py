"""The app factory: settings in, a FastAPI app with its job store, storage and job runner out.

``create_app(settings)`` talks to Redis, S3 and Celery workers (``gld8tr serve --api-only``);
``create_app(settings, embedded=True)`` keeps jobs in memory (each record mirrored to ``data_dir/jobs`` so a
restart loses none), files under ``data_dir`` and runs jobs on a
thread of this process (``gld8tr serve``). ``app_from_env`` is the uvicorn ``--factory`` entry point.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator

from fastapi import FastAPI

from api import __doc__ as api_doc
from api.auth import ApiKeyAuth
from api.deps import Service
from api.jobstore import MemoryJobStore, RedisJobStore
from api.metrics import Metrics
from api.middleware import BodySizeLimit, LatencyMetrics
from api.problems import install_problem_handlers
from api.routes import health, scenes, viewer, web
from api.runner import CeleryRunner, ThreadRunner
from api.settings import Settings, get_settings
from api.signing import FileUrlSigner
from api.storage import LocalStorage, build_storage, job_prefix

log = logging.getLogger(__name__)

EMBEDDED_ENV = "GLD8TR_EMBEDDED"


def build_service(settings: Settings, *, embedded: bool) -> Service:
    auth = ApiKeyAuth(settings.api_key_hashes())
    signer = FileUrlSigner(settings.file_url_secret.get_secret_value(), settings.presign_expiry_s)
    if embedded:
        store = MemoryJobStore(settings.retention_s, persist_dir=settings.data_dir / "jobs")
        storage = LocalStorage(settings.data_dir / "objects")
        runner = ThreadRunner(settings, store, storage)
        redo = store.unfinished()
        if redo:  # the previous process stopped with these queued or running: run them (again)
            log.warning("resubmitting %d unfinished jobs from before the restart", len(redo))
        for job_id in redo:
            runner.submit(job_id)
        return Service(settings, store, storage, runner, auth, signer)
    store = RedisJobStore(settings.redis_url, settings.key_prefix, settings.retention_s)
    storage = build_storage(settings)
    return Service(settings, store, storage, CeleryRunner(settings, store), auth, signer)


def purge_expired(service: Service, now: float | None = None) -> int:
    """Delete the files and records of jobs finished more than the retention period ago."""
    due = service.store.due_for_purge(time.time() if now is None else now)
    for job_id in due:
        service.storage.delete_prefix(job_prefix(service.settings, job_id))
        service.store.delete(job_id)
    if due:
        log.info("purged %d expired jobs", len(due))
    return len(due)


async def _purge_loop(service: Service) -> None:
    while True:
        try:
            await asyncio.to_thread(purge_expired, service)
        except Exception as exc:
            log.warning("purge failed: %s", exc)
        await asyncio.sleep(service.settings.purge_interval_s)


def create_app(settings: Settings | None = None, *, embedded: bool = False, service: Service | None = None) -> FastAPI:
    settings = settings or get_settings()
    service = service or build_service(settings, embedded=embedded)
    metrics = Metrics(service.store, service.runner)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        purger = asyncio.create_task(_purge_loop(service))
        try:
            yield
        finally:
            purger.cancel()
            service.runner.close()

    app = FastAPI(
        title="Gld8tr-3dcn",
        summary="One photo (+ prompt) in, a 3D scene out.",
        description=api_doc or "",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.metrics = metrics
    install_problem_handlers(app)
    app.include_router(scenes.router)
    app.include_router(health.router)
    app.include_router(viewer.router)
    app.include_router(web.router)
    # Outermost last: latency sees every answer, including the body limit's 413.
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_upload_bytes + 64 * 1024)  # + multipart framing
    app.add_middleware(LatencyMetrics, metrics=metrics)
    return app


def app_from_env() -> FastAPI:
    """uvicorn factory: ``GLD8TR_EMBEDDED=1`` selects the single-process mode."""
    return create_app(get_settings(), embedded=os.environ.get(EMBEDDED_ENV, "") == "1")
