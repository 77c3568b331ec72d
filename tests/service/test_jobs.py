"""The job state machine (``service.jobs``) on the in-memory store: queue wait, leases, requeueing, retry budget."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from service import jobs
from service.jobstore import MemoryJobStore
from service.schemas import InputInfo, JobError, JobRecord, OutputRecord, SceneOptions, utcnow
from service.settings import Settings
from service.storage import LocalStorage


@dataclass
class Ctx:
    settings: Settings
    store: MemoryJobStore
    storage: LocalStorage


@dataclass
class ListRunner:
    """Records what was (re)sent: the queue side of ``requeue_expired``."""

    sent: list[str] = field(default_factory=list)

    def submit(self, job_id: str) -> None:
        self.sent.append(job_id)


def _ctx(tmp_path: Path, **settings: object) -> Ctx:
    s = Settings(storage="local", data_dir=tmp_path, **settings)
    return Ctx(s, MemoryJobStore(), LocalStorage(tmp_path / "objects"))


def _create(ctx: Ctx, job_id: str = "j") -> JobRecord:
    inputs = InputInfo(image_key=f"scenes/{job_id}/inputs/image.png", image_format="PNG", width=8, height=8)
    rec, _ = ctx.store.create(JobRecord(id=job_id, owner="o", options=SceneOptions(), inputs=inputs))
    return rec


def test_started_at_is_when_a_worker_claims_the_job(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    created = _create(ctx)
    time.sleep(0.05)
    claimed = jobs.claim(ctx, "j", "w1/a")
    assert claimed is not None and claimed.started_at is not None
    assert (claimed.started_at - created.created_at).total_seconds() >= 0.05  # the queue wait is visible


def test_a_live_lease_keeps_a_duplicate_delivery_out(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, lease_s=30)
    _create(ctx)
    first = jobs.claim(ctx, "j", "w1/a")
    assert first is not None and first.worker == "w1/a" and first.lease_until > utcnow()  # type: ignore[operator]
    assert jobs.claim(ctx, "j", "w2/b") is None  # redelivered while w1 still works on it: dropped
    assert ctx.store.get("j").deliveries == 1  # type: ignore[union-attr]
    assert jobs.renew(ctx, "j", "w1/a") and not jobs.renew(ctx, "j", "w2/b")


def test_an_expired_lease_is_requeued_and_resent_once(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, lease_s=30)
    _create(ctx)
    jobs.claim(ctx, "j", "w1/a")  # ... and w1 dies: nobody renews
    runner = ListRunner()
    assert jobs.requeue_expired(ctx, runner) == [] and runner.sent == []  # not yet
    later = utcnow() + timedelta(seconds=31)
    assert jobs.requeue_expired(ctx, runner, now=later) == ["j"]
    assert jobs.requeue_expired(ctx, runner, now=later) == []  # a second API process finds nothing to do
    rec = ctx.store.get("j")
    assert rec is not None and rec.status == "queued" and rec.worker is None and runner.sent == ["j"]
    assert rec.deliveries == 1  # the crash stays counted (max_deliveries still stops a job that kills workers)

    again = jobs.claim(ctx, "j", "w2/b")
    assert again is not None and again.deliveries == 2
    # The stalled first worker wakes up: it can neither renew, publish nor fail the job w2 now runs.
    assert not jobs.renew(ctx, "j", "w1/a")
    out = [OutputRecord(name="scene.ply", key="k", size=1, media_type="application/octet-stream")]
    assert jobs.publish(ctx, "j", out, {}, holder="w1/a").status == "running"  # type: ignore[union-attr]
    jobs.finish(ctx, "j", "failed", JobError(title="x", detail="y"), holder="w1/a")
    assert ctx.store.get("j").status == "running"  # type: ignore[union-attr]
    assert jobs.publish(ctx, "j", out, {}, holder="w2/b").status == "succeeded"  # type: ignore[union-attr]
