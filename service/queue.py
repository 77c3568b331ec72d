"""The queue between the API and the workers: the Celery application, the runner protocol, the Celery runner.

``JobRunner`` is how the API hands a job to whatever executes it: ``CeleryRunner`` (here) enqueues on the Redis
broker for separate ``gld8tr worker`` processes; ``worker.embedded.ThreadRunner`` runs jobs on a thread of the
API process itself (``gld8tr serve`` embedded mode). Imported by the API (to enqueue by task name) and by the
worker; it must not import torch or the pipeline.

Choices, each for a failure mode of long late-acked jobs:
* ``acks_late`` + ``reject_on_worker_lost``: a job whose worker dies is redelivered, not lost; the job record
  counts deliveries so that a job that always kills its worker (OOM) fails after ``max_deliveries``.
* ``prefetch_multiplier=1``: a worker holds one job at a time, so a busy GPU never sits on queued work.
* ``visibility_timeout`` above the hard time limit: Redis would otherwise hand a still-running job to a second
  worker. The settings refuse a visibility timeout that is not larger.
* Every kombu and result key carries ``{key_prefix}:`` so deployments (and tests) sharing one Redis stay apart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from celery import Celery

from service.settings import Settings

if TYPE_CHECKING:
    from service.jobstore import JobStore

TASK_RUN_SCENE = "gld8tr.run_scene"


def kombu_prefix(settings: Settings) -> str:
    return f"{settings.key_prefix}:kombu:"


def make_celery(settings: Settings) -> Celery:
    app = Celery("gld8tr", broker=settings.celery_broker_url, backend=settings.redis_url, set_as_current=False)
    transport = {
        "visibility_timeout": settings.visibility_timeout_s,
        "unacked_restore_interval": settings.restore_interval_s,
        "unacked_restore_throttle": 1,
        "global_keyprefix": kombu_prefix(settings),
    }
    app.conf.update(
        task_default_queue=settings.queue,
        task_routes={TASK_RUN_SCENE: {"queue": settings.queue}},
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=settings.soft_time_limit_s,
        task_time_limit=settings.hard_time_limit_s,
        broker_transport_options=transport,
        result_backend_transport_options={"global_keyprefix": kombu_prefix(settings)},
        result_expires=int(settings.retention_s),
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        worker_send_task_events=False,
        task_send_sent_event=False,
    )
    return app


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
