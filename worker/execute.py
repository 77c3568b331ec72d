"""One job, start to end: the narrow function both the Celery task and the embedded runner call.

Steps: 1. claim the job (skip finished ones: redeliveries are harmless), 2. count the delivery and give up on a
job that keeps killing its worker, 3. fetch inputs, 4. run ``core.pipeline.generate_scene`` with progress and
cancellation hooks, 5. write outputs to a temporary directory (plus, if asked for, Gaussians fitted by
``core.gaussians.stage.gaussian_stage``) and upload them under the job's own prefix,
6. publish them in the job record (files are listed only once all are uploaded: complete or absent),
7. call the webhook.

Errors: ``TransientError`` (storage or broker unreachable) propagates so Celery can retry; everything else ends
the job: ``InputError`` -> failed with the message, ``Cancelled`` -> canceled (files removed), time limit ->
failed, anything unexpected -> failed with a generic message (details in the worker log).
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from api.jobstore import JobStore
from api.schemas import (
    GAUSSIAN_OUTPUTS,
    MEDIA_TYPES,
    TERMINAL_STATUSES,
    JobError,
    JobRecord,
    OutputRecord,
    Progress,
)
from api.settings import Settings
from api.storage import Storage, job_prefix, output_key
from api.webhooks import notify_job
from core.errors import Cancelled, InputError, ModelNotAvailableError

log = logging.getLogger(__name__)

PREVIEW_MAX_WIDTH = 1024


class TransientError(RuntimeError):
    """Infrastructure hiccup (storage, broker) worth a retry; the job itself is fine."""


class TimeLimitExceeded(RuntimeError):
    """The job ran past the soft time limit (checked between views)."""


@dataclass
class WorkerContext:
    settings: Settings
    store: JobStore
    storage: Storage
    models: Any  # worker.models.ResidentModels, or None if they could not be loaded
    name: str = "worker"


def _transient_types() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = [ConnectionError, TimeoutError]
    try:
        import redis

        types += [redis.ConnectionError, redis.TimeoutError]
    except ImportError:
        pass
    try:
        from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

        types += [EndpointConnectionError, ConnectionClosedError, ReadTimeoutError]
    except ImportError:
        pass
    return tuple(types)


def make_preview(views: list[np.ndarray], path: Path) -> None:
    """The generated views side by side (at most 4), scaled to at most 1024 px wide."""
    from PIL import Image

    strip = np.concatenate([v for v in views[:4]], axis=1)
    img = Image.fromarray(strip)
    if img.width > PREVIEW_MAX_WIDTH:
        img = img.resize((PREVIEW_MAX_WIDTH, max(1, round(img.height * PREVIEW_MAX_WIDTH / img.width))))
    img.save(path, format="PNG")


def finish(ctx: WorkerContext, job_id: str, status: str, error: JobError | None = None) -> JobRecord | None:
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


def notify(ctx: WorkerContext, rec: JobRecord | None) -> None:
    """Call the job's webhook (if any) in the background."""
    notify_job(ctx.settings, rec)


def _claim(ctx: WorkerContext, job_id: str) -> JobRecord | None:
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


def execute_job(job_id: str, ctx: WorkerContext) -> str:
    """Run one job to a terminal state and return it; raises TransientError for the caller to retry."""
    # 1-2. Claim, and refuse a job that has crashed its worker too often.
    rec = _claim(ctx, job_id)
    if rec is None:
        existing = ctx.store.get(job_id)
        return existing.status if existing else "missing"
    if rec.deliveries > ctx.settings.max_deliveries:
        detail = (
            f"the job was started {rec.deliveries - 1} times and its worker died each time "
            "(out of memory?); giving up"
        )
        log.error("job %s: %s", job_id, detail)
        done = finish(ctx, job_id, "failed", JobError(title="Worker lost", detail=detail))
        notify(ctx, done)
        return "failed"
    if ctx.store.cancel_requested(job_id):
        notify(ctx, finish(ctx, job_id, "canceled"))
        return "canceled"

    log.info("job %s: running (delivery %d, mode %s)", job_id, rec.deliveries, rec.options.mode)
    t0 = time.perf_counter()
    try:
        status, error = _run(ctx, rec), None
    except Cancelled:
        status, error = "canceled", None
    except InputError as exc:
        status, error = "failed", JobError(title="Invalid input", detail=str(exc))
    except TimeLimitExceeded as exc:
        status, error = "failed", JobError(title="Time limit exceeded", detail=str(exc))
    except ModelNotAvailableError as exc:
        status, error = "failed", JobError(title="Model not available", detail=str(exc))
    except _transient_types() as exc:
        # Give the delivery back so a retry is not mistaken for a crash, then let the caller retry.
        ctx.store.update(job_id, lambda r: _undeliver(r))
        raise TransientError(f"{type(exc).__name__}: {exc}") from exc
    except Exception:
        log.exception("job %s: unexpected error", job_id)
        status, error = "failed", JobError(title="Internal error", detail="the worker hit an unexpected error")
    rec_done = finish(ctx, job_id, status, error) if status != "succeeded" else ctx.store.get(job_id)
    ctx.store.record_stage("job", time.perf_counter() - t0)
    log.info("job %s: %s in %.1f s", job_id, status, time.perf_counter() - t0)
    notify(ctx, rec_done)
    return status


def _undeliver(rec: JobRecord) -> JobRecord:
    rec.deliveries = max(0, rec.deliveries - 1)
    rec.status = "queued"
    rec.progress = Progress(stage="retrying")
    return rec


def _run(ctx: WorkerContext, rec: JobRecord) -> str:
    from core.pipeline import generate_scene, save_scene

    if ctx.models is None:
        raise ModelNotAvailableError("the worker could not load its models at start; see the worker log")
    job_id, settings = rec.id, ctx.settings
    deadline = time.monotonic() + settings.soft_time_limit_s
    last_write = [0.0]

    def should_cancel() -> bool:
        if time.monotonic() > deadline:
            raise TimeLimitExceeded(f"the job ran longer than {settings.soft_time_limit_s:g} s")
        return ctx.store.cancel_requested(job_id)

    def on_progress(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - last_write[0] < 0.25:  # keep Redis writes bounded on fast stages
            return
        last_write[0] = now
        pct = 100.0 * done / total if total else 0.0

        def fn(r: JobRecord) -> JobRecord | None:
            if r.status != "running":
                return None
            if stage == "saving":  # after the last view: keep the view counts, the job is nearly done
                r.progress = r.progress.model_copy(update={"stage": stage, "percent": 99.0})
            else:
                r.progress = Progress(stage=stage, done=done, total=total, percent=min(99.0, round(pct, 1)))
            return r

        ctx.store.update(job_id, fn)

    with tempfile.TemporaryDirectory(prefix=f"gld8tr-{job_id}-") as tmp_name:
        tmp = Path(tmp_name)
        # 3. Inputs, under their own file names: core.io picks the depth reader by suffix.
        image = tmp / rec.inputs.image_key.rsplit("/", 1)[-1]
        ctx.storage.download(rec.inputs.image_key, image)
        depth = None
        if rec.inputs.depth_key:
            depth = tmp / rec.inputs.depth_key.rsplit("/", 1)[-1]
            ctx.storage.download(rec.inputs.depth_key, depth)

        # 4. Generate (cancellation and the time limit are checked between views).
        if should_cancel():
            raise Cancelled("canceled before start")
        opts = rec.options
        scene = generate_scene(
            image, opts.prompt, opts.mode, depth=depth, fov_deg=opts.fov_deg,
            inpainter=ctx.models.inpainter, depth_model=ctx.models.depth_model, device=ctx.models.device,
            seed=opts.seed, on_progress=on_progress, should_cancel=should_cancel, low_vram=settings.low_vram,
        )

        # 5. Outputs, then upload under this job's prefix (a redelivered job overwrites the same keys).
        on_progress("saving", 0, 1)
        out_dir = tmp / "out"
        out_dir.mkdir()
        save_scene(scene, out_dir / "scene.ply")  # + scene.json beside it
        make_preview(scene.views, out_dir / "preview.png")
        if GAUSSIAN_OUTPUTS.intersection(opts.outputs):
            _fit_gaussians(ctx, scene, out_dir / "gaussians.ply", opts.seed, on_progress, should_cancel)
        if should_cancel():
            raise Cancelled("canceled before upload")
        t_upload = time.perf_counter()
        outputs = []
        for name in opts.outputs:
            path = out_dir / name
            key = output_key(settings, job_id, name)
            ctx.storage.put_file(key, path, MEDIA_TYPES[name])
            outputs.append(OutputRecord(name=name, key=key, size=path.stat().st_size, media_type=MEDIA_TYPES[name]))

        ctx.store.record_stage("upload", time.perf_counter() - t_upload)
    for stage, seconds in scene.timings.items():
        ctx.store.record_stage(stage, float(seconds))

    # 6. Publish, unless the caller canceled meanwhile.
    def publish(r: JobRecord) -> JobRecord | None:
        if r.status != "running":
            return None
        r.status = "succeeded"
        r.outputs = outputs
        r.progress = Progress(stage="done", done=r.progress.total, total=r.progress.total, percent=100.0)
        r.timings = {k: round(float(v), 4) for k, v in scene.timings.items()}
        return r

    if ctx.store.cancel_requested(job_id):
        raise Cancelled("canceled after upload")
    final = ctx.store.update(job_id, publish)
    if final is None or final.status != "succeeded":
        raise Cancelled("job left the running state while finishing")
    return "succeeded"


def _fit_gaussians(
    ctx: WorkerContext, scene: Any, path: Path, seed: int, on_progress: Callable[[str, int, int], None],
    should_cancel: Callable[[], bool],
) -> None:
    """Fit Gaussians to the scene and write ``path`` (+ its ``.json`` metrics) with ``core.gaussians.stage``.

    The fit reports every 50 iterations; cancellation and the soft time limit are checked there, as between
    views. Its time is added to ``scene.timings["gaussians"]``, so it shows in the job's timings and metrics.
    """
    from core.gaussians.stage import gaussian_stage

    if should_cancel():
        raise Cancelled("canceled before the Gaussian fit")

    def progress(stage: str, done: int, total: int) -> None:
        if should_cancel():
            raise Cancelled("canceled during the Gaussian fit")
        on_progress(stage, done, total)

    t0 = time.perf_counter()
    settings = ctx.settings
    summary = gaussian_stage(
        scene, path, iters=settings.gs_iters, max_side=settings.gs_max_side, device=ctx.models.device, seed=seed,
        on_progress=progress, method=settings.gs_method,
    )
    scene.timings["gaussians"] = time.perf_counter() - t0
    log.info(
        "Gaussians: %d splats, %d iterations on %s, PSNR input %.2f dB",
        summary["num_gaussians"], summary["iterations"], summary["renderer"], summary["psnr_input_db"],
    )
