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
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import Cancelled, InputError, ModelNotAvailableError
from service import jobs
from service.infra import is_unavailable
from service.jobstore import JobStore
from service.schemas import (
    GAUSSIAN_OUTPUTS,
    MEDIA_TYPES,
    MESH_OUTPUT,
    VIDEO_OUTPUT,
    JobError,
    JobRecord,
    OutputRecord,
)
from service.settings import Settings
from service.storage import Storage, output_key

log = logging.getLogger(__name__)


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


class LeaseLost(RuntimeError):
    """This worker no longer holds the job's lease (it stalled and the job was queued again): stop quietly."""


class LeaseKeeper:
    """Renews this worker's lease on one running job every ``lease_s / 3`` on a thread of its own, so a view that
    takes long still keeps it; notes when the lease is gone so the job loop can stop at the next check."""

    def __init__(self, ctx: WorkerContext, job_id: str, holder: str) -> None:
        self.ctx, self.job_id, self.holder = ctx, job_id, holder
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"lease-{job_id}", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _loop(self) -> None:
        while not self._stop.wait(self.ctx.settings.lease_s / 3):
            try:
                if not jobs.renew(self.ctx, self.job_id, self.holder):
                    log.warning("job %s: lease lost (requeued or finished elsewhere)", self.job_id)
                    self.lost.set()
                    return
            except Exception as exc:  # Redis blinked: the lease has some slack, try again next round
                log.warning("job %s: lease renewal failed: %s", self.job_id, exc)


def execute_job(job_id: str, ctx: WorkerContext) -> str:
    """Run one job to a terminal state and return it; raises TransientError for the caller to retry.

    Returns ``"lost"`` (and writes nothing) if the lease was lost meanwhile: the job is someone else's now.
    """
    holder = f"{ctx.name}/{uuid.uuid4().hex[:8]}"
    # 1-2. Claim under a lease, and refuse a job that has crashed its worker too often.
    rec = jobs.claim(ctx, job_id, holder)
    if rec is None:
        existing = ctx.store.get(job_id)
        return existing.status if existing else "missing"
    if rec.deliveries > ctx.settings.max_deliveries:
        detail = (
            f"the job was started {rec.deliveries - 1} times and its worker died each time "
            "(out of memory?); giving up"
        )
        log.error("job %s: %s", job_id, detail)
        jobs.notify(ctx, jobs.finish(ctx, job_id, "failed", JobError(title="Worker lost", detail=detail), holder))
        return "failed"
    if ctx.store.cancel_requested(job_id):
        jobs.notify(ctx, jobs.finish(ctx, job_id, "canceled", holder=holder))
        return "canceled"

    log.info("job %s: running (delivery %d, mode %s)", job_id, rec.deliveries, rec.options.mode)
    t0 = time.perf_counter()
    with LeaseKeeper(ctx, job_id, holder) as lease:
        try:
            status, error = _run(ctx, rec, holder, lease), None
        except LeaseLost:
            log.warning("job %s: lease lost; leaving the job to its new worker", job_id)
            return "lost"
        except Cancelled:
            status, error = "canceled", None
        except InputError as exc:
            status, error = "failed", JobError(title="Invalid input", detail=str(exc))
        except TimeLimitExceeded as exc:
            status, error = "failed", JobError(title="Time limit exceeded", detail=str(exc))
        except ModelNotAvailableError as exc:
            status, error = "failed", JobError(title="Model not available", detail=str(exc))
        except Exception as exc:
            if is_unavailable(exc):
                # Give the delivery back so a retry is not mistaken for a crash, then let the caller retry.
                jobs.undeliver(ctx, job_id, holder)
                raise TransientError(f"{type(exc).__name__}: {exc}") from exc
            log.exception("job %s: unexpected error", job_id)
            status, error = "failed", JobError(title="Internal error", detail="the worker hit an unexpected error")
    rec_done = jobs.finish(ctx, job_id, status, error, holder) if status != "succeeded" else ctx.store.get(job_id)
    ctx.store.record_stage("job", time.perf_counter() - t0)
    log.info("job %s: %s in %.1f s", job_id, status, time.perf_counter() - t0)
    jobs.notify(ctx, rec_done)
    return status


def _run(ctx: WorkerContext, rec: JobRecord, holder: str, lease: LeaseKeeper) -> str:
    from core.outputs import write_outputs
    from core.pipeline import generate_scene
    from core.threads import apply_thread_policy

    if ctx.models is None:
        raise ModelNotAvailableError("the worker could not load its models at start; see the worker log")
    job_id, settings = rec.id, ctx.settings
    deadline = time.monotonic() + settings.soft_time_limit_s
    last_write = [0.0]

    def should_cancel() -> bool:
        if lease.lost.is_set():
            raise LeaseLost(job_id)
        if time.monotonic() > deadline:
            raise TimeLimitExceeded(f"the job ran longer than {settings.soft_time_limit_s:g} s")
        return ctx.store.cancel_requested(job_id)

    def on_progress(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - last_write[0] < 0.25:  # keep Redis writes bounded on fast stages
            return
        last_write[0] = now
        jobs.progress(ctx, job_id, stage, done, total)

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
        apply_thread_policy(settings.threads)  # per job: the machine's load changes while a worker lives
        scene = generate_scene(
            image, opts.prompt, opts.mode, depth=depth, fov_deg=opts.fov_deg,
            inpainter=ctx.models.inpainter, depth_model=ctx.models.depth_model, device=ctx.models.device,
            seed=opts.seed, on_progress=on_progress, should_cancel=should_cancel, low_vram=settings.low_vram,
        )

        # 5. Outputs (core.outputs, as `gld8tr run`), then upload under this job's prefix (a redelivered job
        # overwrites the same keys).
        on_progress("saving", 0, 1)
        out_dir = tmp / "out"
        out_dir.mkdir()
        written = write_outputs(
            scene, out_dir / "scene.ply", preview_path=out_dir / "preview.png",
            gaussians_path=out_dir / "gaussians.ply" if GAUSSIAN_OUTPUTS.intersection(opts.outputs) else None,
            mesh_path=out_dir / MESH_OUTPUT if MESH_OUTPUT in opts.outputs else None,
            video_path=out_dir / VIDEO_OUTPUT if VIDEO_OUTPUT in opts.outputs else None,
            video_frames=settings.video_frames,
            gs_iters=settings.gs_iters, gs_max_side=settings.gs_max_side,
            gs_method=opts.gs_method or settings.gs_method, gs_color_solve=settings.gs_color_solve,
            device=ctx.models.device, seed=opts.seed, on_progress=on_progress, should_cancel=should_cancel,
        )
        if written.gaussians is not None:
            gs = written.gaussians
            log.info("Gaussians: %d splats, %d iterations on %s, PSNR input %.2f dB",
                     gs["num_gaussians"], gs["iterations"], gs["renderer"], gs["psnr_input_db"])
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
    if ctx.store.cancel_requested(job_id):
        raise Cancelled("canceled after upload")
    final = jobs.publish(ctx, job_id, outputs, scene.timings, holder)
    if final is None or final.status != "succeeded":
        if final is not None and final.status in ("queued", "running"):  # requeued: another worker's job now
            raise LeaseLost(job_id)
        raise Cancelled("job left the running state while finishing")
    return "succeeded"
