"""The embedded runner: jobs run on a thread of the API process itself (``gld8tr serve`` embedded mode: no
broker, no other server). It satisfies ``service.queue.JobRunner``; the worker code, and so torch, loads only
when its thread starts, so building the app stays light.
"""

from __future__ import annotations

import logging
import queue
import threading

from service.jobstore import JobStore
from service.settings import Settings
from service.storage import Storage

log = logging.getLogger(__name__)


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
        from worker.execute import TransientError, WorkerContext, execute_job  # torch loads here
        from worker.models import ResidentModels
        from worker.tasks import give_up

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
                give_up(ctx, job_id, exc)
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
