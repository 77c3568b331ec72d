"""``gld8tr worker``: one Celery worker process per GPU, models resident, consuming the ``gpu`` queue.

The composition root of a worker: the Redis job store, the storage, the resident models and the Celery app.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--queue", default=None, help="queue to consume (default: GLD8TR_QUEUE, 'gpu')")
    parser.add_argument("--name", default=None, help="worker name (default: host:pid)")
    parser.add_argument("--device", default=None, help="cuda, cuda:1, cpu or auto (default: GLD8TR_DEVICE)")


def main(args: argparse.Namespace) -> int:
    from service.jobstore import RedisJobStore
    from service.settings import get_settings
    from service.storage import build_storage
    from worker.execute import WorkerContext
    from worker.models import ResidentModels
    from worker.tasks import Heartbeat, create_worker_app

    overrides = {k: v for k, v in {"queue": args.queue, "device": args.device}.items() if v}
    settings = get_settings().model_copy(update=overrides)
    name = args.name or f"{socket.gethostname()}:{os.getpid()}"
    store = RedisJobStore(settings.redis_url, settings.key_prefix, settings.retention_s)
    store.ping()
    storage = build_storage(settings)
    models = ResidentModels.load(settings)  # once, before the first job; ModelNotAvailableError exits with 3
    ctx = WorkerContext(settings, store, storage, models, name=name)
    app = create_worker_app(ctx)
    heartbeat = Heartbeat(ctx).start()
    log.info("worker %s consuming queue %r on %s", name, settings.queue, models.device)
    worker = app.Worker(
        pool="solo", concurrency=1, queues=[settings.queue], hostname=f"gld8tr@{name}",
        loglevel=logging.getLevelName(logging.getLogger().getEffectiveLevel()), without_mingle=True,
        without_gossip=True, optimization="fair",
    )
    try:
        worker.start()
    finally:
        heartbeat.stop()
    return int(worker.exitcode or 0)
