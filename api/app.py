"""The app factory: settings (and optionally the job store, storage and runner) in, a FastAPI app out.

``create_app(settings)`` talks to Redis, S3 and Celery workers (``gld8tr serve --api-only``); whoever composes
another mode passes its own parts: ``gld8tr serve`` (embedded) gives an in-memory store mirrored to
``data_dir/jobs``, files under ``data_dir`` and ``worker.embedded.ThreadRunner``, which runs jobs on a thread of
this process. The API never imports the worker: the runner is handed in. ``app_from_env`` is the uvicorn
``--factory`` entry point of the distributed mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from fastapi import FastAPI

from api import __doc__ as api_doc
from api.auth import ApiKeyAuth
from api.deps import Service
from api.metrics import Metrics
from api.middleware import BodySizeLimit, ErrorResponses, LatencyMetrics
from api.problems import install_problem_handlers
from api.routes import health, scenes, viewer, web
from api.signing import FileUrlSigner
from service import jobs
from service.jobstore import JobStore, RedisJobStore
from service.queue import CeleryRunner, JobRunner
from service.settings import Settings, get_settings
from service.storage import Storage, build_storage

log = logging.getLogger(__name__)


def build_service(
    settings: Settings, *, store: JobStore | None = None, storage: Storage | None = None,
    runner: JobRunner | None = None,
) -> Service:
    """The parts a route needs; whatever is not given is the distributed default (Redis, S3, Celery)."""
    store = store or RedisJobStore(settings.redis_url, settings.key_prefix, settings.retention_s)
    storage = storage or build_storage(settings)
    runner = runner or CeleryRunner(settings, store)
    auth = ApiKeyAuth(settings.api_key_hashes())
    signer = FileUrlSigner(settings.file_url_secret.get_secret_value(), settings.presign_expiry_s)
    return Service(settings, store, storage, runner, auth, signer)


async def _every(interval_s: float, what: str, fn: Callable[[], object]) -> None:
    while True:
        try:
            await asyncio.to_thread(fn)
        except Exception as exc:  # Redis or S3 blinked: try again next round
            log.warning("%s failed: %s", what, exc)
        await asyncio.sleep(interval_s)


def create_app(
    settings: Settings | None = None, *, store: JobStore | None = None, storage: Storage | None = None,
    runner: JobRunner | None = None, service: Service | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    service = service or build_service(settings, store=store, storage=storage, runner=runner)
    metrics = Metrics(service.store, service.runner)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loops = [
            asyncio.create_task(_every(settings.purge_interval_s, "purge", lambda: jobs.purge(service))),
            asyncio.create_task(_every(settings.lease_check_interval_s, "lease check",
                                       lambda: jobs.requeue_expired(service, service.runner))),
        ]
        try:
            yield
        finally:
            for task in loops:
                task.cancel()
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
    app.add_middleware(ErrorResponses)  # outermost of ours: it answers whatever the others let through
    return app


def app_from_env() -> FastAPI:
    """uvicorn factory of the distributed mode (``gld8tr serve --api-only --workers N``)."""
    return create_app(get_settings())
