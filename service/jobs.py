"""The job state machine as plain functions: every change of a job's status happens here, nowhere else.

queued --claim--> running --publish--> succeeded
   |                 |  \\--finish(failed | canceled)
   |                 \\--undeliver--> queued  (a transient error: the delivery is given back for a retry)
   \\--cancel--> canceled

The API (``create_and_enqueue``, ``cancel``, ``remove``, ``purge``) and the worker (``claim``, ``progress``,
``publish``, ``finish``, ``undeliver``) call these with anything that has ``settings``, ``store`` and
``storage`` attributes (the API's ``Service``, the worker's ``WorkerContext``). Each transition is one atomic
``store.update``, so a worker's write can never undo the API's cancel or vice versa. Torch-free and HTTP-free:
refusals are domain exceptions (``IdempotencyConflict``, ``QueueUnavailable``) that the API maps to problems.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

from service.jobstore import IdempotencyConflict, JobStore
from service.queue import JobRunner
from service.schemas import TERMINAL_STATUSES, JobError, JobRecord, OutputRecord, Progress
from service.settings import Settings
from service.storage import Storage, input_key, job_prefix
from service.webhooks import notify_job

log = logging.getLogger(__name__)

__all__ = [
    "IdempotencyConflict", "QueueUnavailable", "JobContext", "create_and_enqueue", "claim", "progress", "publish",
    "finish", "cancel", "undeliver", "remove", "purge", "notify",
]


class QueueUnavailable(RuntimeError):
    """The job could not be handed to the queue (broker down); nothing was created."""


class JobContext(Protocol):
    """What the transitions need: the API's ``Service`` and the worker's ``WorkerContext`` both qualify."""

    settings: Settings
    store: JobStore
    storage: Storage


def notify(ctx: JobContext, rec: JobRecord | None) -> None:
    """Call the job's webhook (if any) in the background; nothing happens for unfinished jobs."""
    notify_job(ctx.settings, rec)


# ------------------------------------------------------------------------------------------------ API side
def create_and_enqueue(
    ctx: JobContext, runner: JobRunner, rec: JobRecord, image_bytes: bytes, image_type: str,
    depth: tuple[bytes, str, str] | None = None,
) -> JobRecord:
    """Upload the inputs, create the record, enqueue; undo the uploads if the record or the queue refuses.

    ``depth`` is ``(bytes, format, extension)``. Returns the created job, or the existing one when an identical
    request with the same Idempotency-Key won a race; raises ``IdempotencyConflict`` or ``QueueUnavailable``.
    """
    settings, store, storage, job_id = ctx.settings, ctx.store, ctx.storage, rec.id
    storage.put_bytes(rec.inputs.image_key, image_bytes, image_type)
    if depth is not None:
        depth_bytes, depth_format, depth_ext = depth
        rec.inputs.depth_key = input_key(settings, job_id, f"depth.{depth_ext}")
        rec.inputs.depth_format = depth_format
        storage.put_bytes(rec.inputs.depth_key, depth_bytes, "application/octet-stream")
    try:
        created, is_new = store.create(rec)
    except IdempotencyConflict:
        storage.delete_prefix(job_prefix(settings, job_id))
        raise
    if not is_new:  # lost a race with an identical request
        storage.delete_prefix(job_prefix(settings, job_id))
        return created
    try:
        runner.submit(job_id)
    except Exception as exc:
        log.exception("could not enqueue job %s", job_id)
        err = JobError(title="Service unavailable", detail="the job could not be queued")
        store.update(job_id, lambda r: r.model_copy(update={"status": "failed", "error": err}))
        storage.delete_prefix(job_prefix(settings, job_id))
        raise QueueUnavailable("the job queue is unreachable") from exc
    return created


def cancel(ctx: JobContext, job_id: str) -> JobRecord | None:
    """Ask a running job to stop (it sees the flag between two views) and cancel a queued one at once."""
    ctx.store.request_cancel(job_id)

    def fn(r: JobRecord) -> JobRecord | None:
        if r.status != "queued":
            return None
        r.status = "canceled"
        return r

    updated = ctx.store.update(job_id, fn)
    if updated is not None and updated.status == "canceled":  # never started: no worker will report it
        ctx.storage.delete_prefix(job_prefix(ctx.settings, job_id))
        notify(ctx, updated)
    return updated


def remove(ctx: JobContext, job_id: str) -> None:
    """Delete a finished job's files and record."""
    ctx.storage.delete_prefix(job_prefix(ctx.settings, job_id))
    ctx.store.delete(job_id)


def purge(ctx: JobContext, now: float | None = None) -> int:
    """Delete the files and records of jobs finished more than the retention period ago."""
    due = ctx.store.due_for_purge(time.time() if now is None else now)
    for job_id in due:
        remove(ctx, job_id)
    if due:
        log.info("purged %d expired jobs", len(due))
    return len(due)


# --------------------------------------------------------------------------------------------- worker side
def claim(ctx: JobContext, job_id: str) -> JobRecord | None:
    """Mark the job running and count this delivery; None if it is finished or gone."""

    def fn(rec: JobRecord) -> JobRecord | None:
        if rec.status in TERMINAL_STATUSES:
            return None
        rec.deliveries += 1
        rec.status = "running"
        rec.started_at = rec.started_at or rec.updated_at
        rec.progress = Progress(stage="starting")  # the pipeline reports the number of views
        return rec

    rec = ctx.store.update(job_id, fn)
    if rec is None:
        log.warning("job %s: no record (purged or never created); dropping the task", job_id)
        return None
    if rec.status in TERMINAL_STATUSES:
        log.info("job %s already %s; nothing to do", job_id, rec.status)
        return None
    return rec


def progress(ctx: JobContext, job_id: str, stage: str, done: int, total: int) -> None:
    """Record a running job's progress (``saving`` keeps the view counts: the job is nearly done)."""
    pct = 100.0 * done / total if total else 0.0

    def fn(r: JobRecord) -> JobRecord | None:
        if r.status != "running":
            return None
        if stage == "saving":
            r.progress = r.progress.model_copy(update={"stage": stage, "percent": 99.0})
        else:
            r.progress = Progress(stage=stage, done=done, total=total, percent=min(99.0, round(pct, 1)))
        return r

    ctx.store.update(job_id, fn)


def publish(ctx: JobContext, job_id: str, outputs: list[OutputRecord], timings: dict[str, float]) -> JobRecord | None:
    """running -> succeeded with its (all uploaded) outputs; None or another status if it left ``running``."""

    def fn(r: JobRecord) -> JobRecord | None:
        if r.status != "running":
            return None
        r.status = "succeeded"
        r.outputs = outputs
        r.progress = Progress(stage="done", done=r.progress.total, total=r.progress.total, percent=100.0)
        r.timings = {k: round(float(v), 4) for k, v in timings.items()}
        return r

    return ctx.store.update(job_id, fn)


def finish(ctx: JobContext, job_id: str, status: str, error: JobError | None = None) -> JobRecord | None:
    """End an unfinished job as ``failed`` or ``canceled`` and remove what it must not keep.

    A failed job keeps its inputs (for a human to look at) but loses partial outputs; a canceled one loses all.
    """

    def fn(rec: JobRecord) -> JobRecord | None:
        if rec.status in TERMINAL_STATUSES:
            return None
        rec.status = status  # type: ignore[assignment]
        rec.error = error
        return rec

    rec = ctx.store.update(job_id, fn)
    if status in ("canceled", "failed"):
        ctx.storage.delete_prefix(job_prefix(ctx.settings, job_id) + "outputs/")
    if status == "canceled":
        ctx.storage.delete_prefix(job_prefix(ctx.settings, job_id))
    return rec


def undeliver(ctx: JobContext, job_id: str) -> JobRecord | None:
    """Give a delivery back (a transient error, not a crash) and queue the job again for the retry."""

    def fn(rec: JobRecord) -> JobRecord:
        rec.deliveries = max(0, rec.deliveries - 1)
        rec.status = "queued"
        rec.progress = Progress(stage="retrying")
        return rec

    return ctx.store.update(job_id, fn)
