"""``gld8tr serve``: the web service, embedded (API + in-process worker + local files) or API only.

The composition root of both modes: API only is ``api.app.create_app`` with its distributed defaults (Redis, S3,
Celery); embedded gives it an in-memory job store mirrored to ``data_dir/jobs``, files under ``data_dir`` and
the worker's in-process ``ThreadRunner``, the one place where the API and the worker meet.
"""

from __future__ import annotations

import argparse
import logging
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from service.settings import Settings

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="where embedded mode keeps uploads and results (default: GLD8TR_DATA_DIR)")
    parser.add_argument("--api-only", action="store_true",
                        help="serve the API only, against Redis, S3 and separate `gld8tr worker` processes")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (--api-only only)")


def embedded_app(settings: Settings) -> FastAPI:
    """API + in-process worker + local files: jobs survive a restart (unfinished ones are run again)."""
    from api.app import create_app
    from service import jobs
    from service.jobstore import MemoryJobStore
    from service.storage import LocalStorage
    from worker.embedded import ThreadRunner

    store = MemoryJobStore(settings.retention_s, persist_dir=settings.data_dir / "jobs")
    storage = LocalStorage(settings.data_dir / "objects")
    runner = ThreadRunner(settings, store, storage)
    redo = store.unfinished()
    if redo:  # the previous process stopped with these queued or running: run them (again)
        log.warning("resubmitting %d unfinished jobs from before the restart", len(redo))
    # The leases of jobs that were running belong to the dead process: expire them all now (this re-sends them)
    # rather than waiting for them to run out; queued ones are simply sent again.
    parts = SimpleNamespace(settings=settings, store=store, storage=storage)
    resent = set(jobs.requeue_expired(parts, runner, now=datetime.max.replace(tzinfo=UTC)))
    for job_id in redo:
        if job_id not in resent:
            runner.submit(job_id)
    return create_app(settings, store=store, storage=storage, runner=runner)


def main(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app
    from service.settings import get_settings

    settings = get_settings()
    if args.data_dir is not None:
        settings = settings.model_copy(update={"data_dir": args.data_dir})
    if args.api_only:
        log.info("API only on %s:%d: jobs go to queue %r on %s", args.host, args.port, settings.queue,
                 settings.celery_broker_url)
        if args.workers > 1:  # each uvicorn process builds its own app from the same environment
            uvicorn.run("api.app:app_from_env", factory=True, host=args.host, port=args.port,
                        workers=args.workers, log_config=None, proxy_headers=True)
            return 0
        app = create_app(settings)
    else:
        if args.workers != 1:
            log.warning("embedded mode runs one process; ignoring --workers")
        app = embedded_app(settings)
        log.info("embedded service on %s:%d, data in %s", args.host, args.port, settings.data_dir.resolve())
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, proxy_headers=True)
    return 0
