"""The job state machine as plain functions: every change of a job's status happens here, nowhere else.

queued --claim--> running --publish--> succeeded
   |        ^        |  \\--finish(failed | canceled)
   |        |        \\--undeliver--> queued  (a transient error: the delivery is given back for a retry)
   |        \\--requeue_expired-- (the worker's lease ran out: it died)
   \\--cancel--> canceled

The API (``create_and_enqueue``, ``cancel``, ``remove``, ``purge``, ``requeue_expired``) and the worker
(``claim``, ``renew``, ``progress``, ``publish``, ``finish``, ``undeliver``) call these with anything that has
``settings``, ``store`` and ``storage`` attributes (the API's ``Service``, the worker's ``WorkerContext``). Each
transition is one atomic ``store.update``, so a worker's write can never undo the API's cancel or vice versa.
Torch-free and HTTP-free: refusals are domain exceptions (``IdempotencyConflict``, ``ActiveJobLimit``,
``QueueUnavailable``) that the API maps to problems.

Leases: a worker claims a job under a holder token and renews ``lease_until`` while it runs; a job whose lease
has run out is queued again and re-sent (``requeue_expired``), so a worker killed mid-job costs about
``lease_s`` rather than the broker's visibility timeout. Worker-side writes carry the holder token, so a worker
that lost its lease (it stalled, the job moved on) cannot publish or fail a job that another worker now runs.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Protocol

from service.infra import is_unavailable
from service.jobstore import ActiveJobLimit, IdempotencyConflict, JobStore
from service.queue import JobRunner
from service.schemas import TERMINAL_STATUSES, JobError, JobRecord, OutputRecord, Progress, utcnow
from service.settings import Settings
from service.storage import Storage, input_key, job_prefix
from service.webhooks import notify_job

log = logging.getLogger(__name__)

__all__ = [
    "ActiveJobLimit", "IdempotencyConflict", "QueueUnavailable", "JobContext", "create_and_enqueue", "claim", "renew",
    "progress", "publish", "finish", "cancel", "undeliver", "remove", "purge", "requeue_expired", "notify",
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
    """Upload the inputs, create the record (with the per-owner cap checked atomically), enqueue; undo
    everything if the record or the queue refuses, so a refused request leaves no trace.

    ``depth`` is ``(bytes, format, extension)``. Returns the created job, or the existing one when an identical
    request with the same Idempotency-Key won a race; raises ``IdempotencyConflict``, ``ActiveJobLimit`` or
    ``QueueUnavailable``; a storage or store outage propagates as it is (``service.infra.is_unavailable``).
    """
    settings, store, storage, job_id = ctx.settings, ctx.store, ctx.storage, rec.id
    # Storage down here: the error propagates (503) without a clean-up call that would only wait on it again.
    storage.put_bytes(rec.inputs.image_key, image_bytes, image_type)
    try:
        if depth is not None:
            depth_bytes, depth_format, depth_ext = depth
            rec.inputs.depth_key = input_key(settings, job_id, f"depth.{depth_ext}")
            rec.inputs.depth_format = depth_format
            storage.put_bytes(rec.inputs.depth_key, depth_bytes, "application/octet-stream")
        created, is_new = store.create(rec, max_active=settings.max_active_jobs_per_key)
    except Exception:
        _forget_files(ctx, job_id)
        raise
    if not is_new:  # lost a race with an identical request
        _forget_files(ctx, job_id)
        return created
    try:
        runner.submit(job_id)
    except Exception as exc:
        log.error("could not enqueue job %s: %s", job_id, exc)
        # Nobody will ever run it: the record goes too, and with it the Idempotency-Key, free for the retry.
        store.delete(job_id)
        _forget_files(ctx, job_id)
        raise QueueUnavailable("the job queue is unreachable") from exc
    return created


def _forget_files(ctx: JobContext, job_id: str, suffix: str = "") -> None:
    """Delete a job's files (all, or under ``suffix``); if storage is down, leave them for the retention purge."""
    try:
        ctx.storage.delete_prefix(job_prefix(ctx.settings, job_id) + suffix)
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        log.warning("job %s: files not deleted now (%s); the retention purge will", job_id, exc)


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
        notify(ctx, updated)
        _forget_files(ctx, job_id)
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
def _lease_deadline(ctx: JobContext) -> datetime:
    return utcnow() + timedelta(seconds=ctx.settings.lease_s)


def claim(ctx: JobContext, job_id: str, holder: str | None = None) -> JobRecord | None:
    """Mark the job running under ``holder``'s lease and count this delivery; None if it is finished, gone, or
    running under another holder's live lease (a duplicate delivery of a job that is in good hands)."""
    now = utcnow()
    held_by: list[str] = []

    def fn(rec: JobRecord) -> JobRecord | None:
        if rec.status in TERMINAL_STATUSES:
            return None
        if rec.status == "running" and rec.lease_until is not None and rec.lease_until > now \
                and rec.worker not in (None, holder):
            held_by.append(rec.worker or "")
            return None
        rec.deliveries += 1
        rec.status = "running"
        rec.started_at = rec.started_at or now  # the first start: created_at -> started_at is the queue wait
        rec.worker = holder
        rec.lease_until = _lease_deadline(ctx) if holder else None
        rec.progress = Progress(stage="starting")  # the pipeline reports the number of views
        return rec

    rec = ctx.store.update(job_id, fn)
    if rec is None:
        log.warning("job %s: no record (purged or never created); dropping the task", job_id)
        return None
    if held_by:
        log.info("job %s is running on %s under a live lease; dropping this delivery", job_id, held_by[0])
        return None
    if rec.status in TERMINAL_STATUSES:
        log.info("job %s already %s; nothing to do", job_id, rec.status)
        return None
    return rec


def renew(ctx: JobContext, job_id: str, holder: str) -> bool:
    """Extend ``holder``'s lease on a running job; False if it no longer holds it (requeued, canceled, done)."""
    held = [False]

    def fn(rec: JobRecord) -> JobRecord | None:
        if rec.status != "running" or rec.worker != holder:
            return None
        held[0] = True
        rec.lease_until = _lease_deadline(ctx)
        return rec

    ctx.store.update(job_id, fn)
    return held[0]


def requeue_expired(ctx: JobContext, runner: JobRunner, now: datetime | None = None) -> list[str]:
    """Queue again, and re-send, every running job whose lease has run out (its worker died or hangs).

    The delivery it used stays counted, so a job that kills every worker still fails after ``max_deliveries``.
    Atomic per job: of several API processes doing this at once, one requeues and re-sends.
    """
    now = now or utcnow()
    requeued = []
    for job_id in ctx.store.ids_with_status("running"):
        if _requeue_if_expired(ctx, job_id, now):
            runner.submit(job_id)
            requeued.append(job_id)
    return requeued


def _requeue_if_expired(ctx: JobContext, job_id: str, now: datetime) -> bool:
    moved = [False]

    def fn(rec: JobRecord) -> JobRecord | None:
        if rec.status != "running" or rec.lease_until is None or rec.lease_until > now:
            return None
        log.warning("job %s: lease of %s ran out at %s; queued again", rec.id, rec.worker, rec.lease_until)
        moved[0] = True
        rec.status, rec.worker, rec.lease_until = "queued", None, None
        rec.progress = Progress(stage="requeued")
        return rec

    ctx.store.update(job_id, fn)
    return moved[0]


def _holds(rec: JobRecord, holder: str | None) -> bool:
    """Worker-side writes (``holder`` given) need the job running under that holder's lease, or under none (a
    record from before leases); the API's and the task's own give-up writes (``holder`` None) always pass."""
    return holder is None or rec.worker == holder or (rec.worker is None and rec.status == "running")


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


def publish(
    ctx: JobContext, job_id: str, outputs: list[OutputRecord], timings: dict[str, float], holder: str | None = None,
) -> JobRecord | None:
    """running -> succeeded with its (all uploaded) outputs; None or another status if it left ``running``."""

    def fn(r: JobRecord) -> JobRecord | None:
        if r.status != "running" or not _holds(r, holder):
            return None
        r.worker, r.lease_until = None, None
        r.status = "succeeded"
        r.outputs = outputs
        r.progress = Progress(stage="done", done=r.progress.total, total=r.progress.total, percent=100.0)
        r.timings = {k: round(float(v), 4) for k, v in timings.items()}
        return r

    return ctx.store.update(job_id, fn)


def finish(
    ctx: JobContext, job_id: str, status: str, error: JobError | None = None, holder: str | None = None,
) -> JobRecord | None:
    """End an unfinished job as ``failed`` or ``canceled`` and remove what it must not keep.

    A failed job keeps its inputs (for a human to look at) but loses partial outputs; a canceled one loses all.
    The record changes first and a storage outage does not undo that or raise: the caller still sends the
    webhook, and the retention purge deletes the files later.
    """

    def fn(rec: JobRecord) -> JobRecord | None:
        if rec.status in TERMINAL_STATUSES or not _holds(rec, holder):
            return None
        rec.status = status  # type: ignore[assignment]
        rec.error = error
        rec.worker, rec.lease_until = None, None
        return rec

    rec = ctx.store.update(job_id, fn)
    if status == "failed":
        _forget_files(ctx, job_id, "outputs/")
    elif status == "canceled":
        _forget_files(ctx, job_id)
    return rec


def undeliver(ctx: JobContext, job_id: str, holder: str | None = None) -> JobRecord | None:
    """Give a delivery back (a transient error, not a crash) and queue the job again for the retry."""

    def fn(rec: JobRecord) -> JobRecord | None:
        if rec.status in TERMINAL_STATUSES or not _holds(rec, holder):
            return None
        rec.deliveries = max(0, rec.deliveries - 1)
        rec.status = "queued"
        rec.worker, rec.lease_until = None, None
        rec.progress = Progress(stage="retrying")
        return rec

    return ctx.store.update(job_id, fn)
