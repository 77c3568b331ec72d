"""The Celery task and the process-level guards of a solo GPU worker.

A worker is one process per GPU running Celery's ``solo`` pool: the task runs on the main thread of the process
that loaded the models, so CUDA is never touched before a fork (there is none). The solo pool enforces neither
Celery's time limits nor revocation, so the worker enforces its own: the soft limit and cancellation are checked
between views (worker/execute.py), and a watchdog ends the process at the hard limit, after recording the
failure; the unacknowledged message comes back later, finds the job finished and is acknowledged.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from celery import Celery, Task

from service.jobs import finish, notify
from service.queue import TASK_RUN_SCENE, make_celery
from service.schemas import JobError
from worker.execute import TransientError, WorkerContext, execute_job

log = logging.getLogger(__name__)

HARD_LIMIT_EXIT_CODE = 70


@contextmanager
def hard_time_limit(ctx: WorkerContext, job_id: str) -> Iterator[None]:
    """Exit the process if the job is still running after ``hard_time_limit_s`` (stuck inside one view)."""

    def expire() -> None:
        detail = f"the job was still running after the hard limit of {ctx.settings.hard_time_limit_s:g} s"
        log.error("job %s: %s; exiting the worker", job_id, detail)
        try:
            notify(ctx, finish(ctx, job_id, "failed", JobError(title="Time limit exceeded", detail=detail)))
        finally:
            os._exit(HARD_LIMIT_EXIT_CODE)

    timer = threading.Timer(ctx.settings.hard_time_limit_s, expire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


class Heartbeat:
    """Writes ``{prefix}:worker:{name}`` with a TTL so /readyz can tell that a worker is alive even while busy."""

    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="gld8tr-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def _loop(self) -> None:
        interval = self.ctx.settings.worker_heartbeat_s
        while not self._stop.is_set():
            try:
                self.ctx.store.heartbeat(self.ctx.name, ttl_s=3 * interval)
            except Exception as exc:  # the broker may be down for a moment; keep trying
                log.warning("heartbeat failed: %s", exc)
            self._stop.wait(interval)

    def stop(self) -> None:
        self._stop.set()


RETRY_DELAYS_S = (2, 4, 8, 16, 30)
"""Backoff between retries of a transient error; the last value repeats until the budget is spent."""


def retry_delay(retries: int, budget_s: float) -> int | None:
    """Seconds before retry number ``retries + 1``, or None once the backoff would exceed ``budget_s`` in all.

    With the default budget of 120 s a job rides out about two minutes of storage or broker outage (a restart
    takes ~20 s), instead of failing after 14 s.
    """
    delays = [RETRY_DELAYS_S[min(i, len(RETRY_DELAYS_S) - 1)] for i in range(retries + 1)]
    return delays[-1] if sum(delays) <= budget_s else None


def give_up(ctx: WorkerContext, job_id: str, exc: BaseException) -> None:
    """Fail a job whose infrastructure stayed unreachable, and tell its webhook even if storage is still down."""
    err = JobError(title="Service unavailable", detail=f"storage or broker unreachable: {exc}")
    notify(ctx, finish(ctx, job_id, "failed", err))


def create_worker_app(ctx: WorkerContext) -> Celery:
    """The Celery app with ``run_scene`` bound to this process's resident context."""
    settings = ctx.settings
    app = make_celery(settings)

    # max_retries=None: no count limit from Celery (whose default is 3); the time budget decides (retry_delay).
    @app.task(name=TASK_RUN_SCENE, bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
    def run_scene(self: Task, job_id: str) -> str:
        with hard_time_limit(ctx, job_id):
            try:
                return execute_job(job_id, ctx)
            except TransientError as exc:
                delay = retry_delay(self.request.retries, settings.retry_budget_s)
                if delay is None:
                    log.error("job %s: giving up after %d retries: %s", job_id, self.request.retries, exc)
                    give_up(ctx, job_id, exc)
                    return "failed"
                log.warning("job %s: transient error, retry %d in %d s: %s", job_id, self.request.retries + 1,
                            delay, exc)
                raise self.retry(exc=exc, countdown=delay) from exc

    return app
