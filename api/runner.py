"""How the API hands a job to a worker: one interface, two implementations.

``CeleryRunner`` enqueues on the Redis broker for separate ``gld8tr worker`` processes. ``ThreadRunner`` runs
jobs on a thread of the API process itself (``gld8tr serve`` embedded mode: no broker, no other server); it
imports the worker code, and so torch, only when its thread starts.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Protocol

from api.jobstore import JobStore
from api.settings import Settings
from api.storage import Storage

log = logging.getLogger(__name__)


class JobRunner(Protocol):
    def submit(self, job_id: str) -> None: ...
    def queue_depth(self) -> int: ...
    def ping(self) -> None: ...
    def live_workers(self) -> list[str]: ...
    def close(self) -> None: ...


class CeleryRunner:
    """Jobs go to the ``queue`` of a Redis broker; task id = job id, so a resend is recognisable."""

    def __init__(self, settings: Settings, store: JobStore) -> None:
        import redis

        from worker.celery_app import TASK_RUN_SCENE, kombu_prefix, make_celery

        self.settings = settings
        self.store = store
        self.app = make_celery(settings)
        self.task_name = TASK_RUN_SCENE
        self.queue_key = kombu_prefix(settings) + settings.queue
        self.broker = redis.Redis.from_url(settings.celery_broker_url, socket_timeout=5, socket_connect_timeout=5)

    def submit(self, job_id: str) -> None:
        self.app.send_task(self.task_name, args=[job_id], task_id=job_id, queue=self.settings.queue)

    def queue_depth(self) -> int:
        return int(self.broker.llen(self.queue_key))

    def ping(self) -> None:
        self.broker.ping()

    def live_workers(self) -> list[str]:
        return self.store.live_workers()  # workers write heartbeats; a busy solo worker cannot answer pings

    def close(self) -> None:
        self.broker.close()


class ThreadRunner:
    """One worker thread in this process, fed by an in-memory queue; models load once when it starts."""

    def __init__(self, settings: Settings, store: JobStore, storage: Storage) -> None:
        self.settings = settings
        self.store = store
        self.storage = storage
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._ready = threading.Event()
        self._models_ok = False
        self._thread = threading.Thread(target=self._loop, name="gld8tr-embedded-worker", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        from api.schemas import JobError
        from worker.execute import TransientError, WorkerContext, execute_job, finish  # torch loads here
        from worker.models import ResidentModels

        try:
            models = ResidentModels.load(self.settings)
        except Exception:
            log.exception("embedded worker could not load its models; jobs will fail")
            models = None
        ctx = WorkerContext(self.settings, self.store, self.storage, models, name="embedded")
        self._models_ok = models is not None
        self._ready.set()
        while True:
            job_id = self._queue.get()
            if job_id is None:
                return
            try:
                execute_job(job_id, ctx)
            except TransientError as exc:  # no broker to retry through: local disk or memory failed
                finish(ctx, job_id, "failed", JobError(title="Service unavailable", detail=str(exc)))
            except Exception:  # execute_job records failures itself; this is a last resort
                log.exception("embedded worker: job %s crashed", job_id)

    def submit(self, job_id: str) -> None:
        self._queue.put(job_id)

    def queue_depth(self) -> int:
        return self._queue.qsize()

    def ping(self) -> None:
        return None

    def live_workers(self) -> list[str]:
        # Without its models the worker would only fail jobs: report it not ready rather than live.
        return ["embedded"] if self._thread.is_alive() and self._ready.is_set() and self._models_ok else []

    def close(self) -> None:
        self._queue.put(None)
