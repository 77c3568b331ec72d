"""Pydantic models for everything that crosses the service boundary: requests, job records, responses.

``JobRecord`` is what the job store keeps (shared by the API and the worker); ``JobPublic`` is what a caller
sees. Only pydantic here (and the torch-free ``core.modes``): the worker imports this module, and it must stay free of
FastAPI and torch.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.modes import Mode

JobStatus = Literal["queued", "running", "succeeded", "failed", "canceled"]
ACTIVE_STATUSES: frozenset[str] = frozenset({"queued", "running"})
TERMINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "canceled"})
OutputName = Literal[
    "scene.ply", "scene.json", "preview.png", "gaussians.ply", "gaussians.json", "mesh.glb", "video.mp4"
]

MEDIA_TYPES: dict[str, str] = {
    "scene.ply": "application/octet-stream",
    "scene.json": "application/json",
    "preview.png": "image/png",
    "gaussians.ply": "application/octet-stream",
    "gaussians.json": "application/json",
    "mesh.glb": "model/gltf-binary",
    "video.mp4": "video/mp4",
}
# Outputs of the Gaussian stage (``core.gaussians.stage``): asking for either runs the fit after the point cloud.
GAUSSIAN_OUTPUTS: frozenset[str] = frozenset({"gaussians.ply", "gaussians.json"})
# The triangle mesh of the views' fused depths (``core.mesh.reconstruct.scene_mesh``), GLB in glTF axes.
MESH_OUTPUT = "mesh.glb"
# An orbit fly-through (``core.video.write_scene_video``) of the Gaussians when they are asked for too, else of the
# point cloud.
VIDEO_OUTPUT = "video.mp4"
DEFAULT_OUTPUTS: tuple[OutputName, ...] = ("scene.ply", "scene.json", "preview.png")


def utcnow() -> datetime:
    return datetime.now(UTC)


class SceneOptions(BaseModel):
    """What the caller asked for (the non-file part of ``POST /scenes``)."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field("", description="text that guides the inpainting of unseen regions")
    mode: Mode = Field("stage", description="single view, a 3-view stage, or a 13-view 360 degree sweep")
    fov_deg: Annotated[float, Field(ge=1, le=179)] | Literal["auto"] | None = Field(
        None, description="horizontal field of view in degrees (default 53.13), or 'auto' to estimate it from the "
        "photo's depth (recorded in scene.json under extra.camera)")
    seed: int = Field(0, ge=0, le=2**31 - 1)
    outputs: list[OutputName] = Field(default_factory=lambda: sorted(DEFAULT_OUTPUTS), min_length=1)
    webhook: str | None = Field(None, description="https URL called once the job ends (host must be allowed)")
    gs_method: Literal["auto", "feedforward", "fit"] | None = Field(
        None, description="how gaussians.ply is made: feedforward (splatter network + colour solve, about 2 "
        "CPU-s), fit (optimisation), auto; default: the worker's GLD8TR_GS_METHOD"
    )

    @field_validator("outputs")
    @classmethod
    def _canonical_outputs(cls, value: list[str]) -> list[str]:
        """Sorted and without repeats, so that equal requests serialise (and hash, for Idempotency-Key) equally
        whether the outputs were given explicitly or left to the default."""
        return sorted(set(value))


class InputInfo(BaseModel):
    """The validated uploads, as stored beside the job."""

    image_key: str
    image_format: str
    width: int
    height: int
    depth_key: str | None = None
    depth_format: str | None = None


class Progress(BaseModel):
    stage: str | None = None
    done: int = 0
    total: int = 0
    percent: float = Field(0.0, ge=0, le=100)


class JobError(BaseModel):
    title: str
    detail: str


class OutputRecord(BaseModel):
    name: str
    key: str
    size: int
    media_type: str


class JobRecord(BaseModel):
    """The job as the store keeps it: existence and status live here, never in Celery's result state."""

    id: str
    owner: str
    status: JobStatus = "queued"
    options: SceneOptions
    inputs: InputInfo
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    progress: Progress = Field(default_factory=Progress)
    error: JobError | None = None
    outputs: list[OutputRecord] = Field(default_factory=list)
    deliveries: int = 0
    worker: str | None = Field(None, description="lease holder of a running job (worker name + claim token)")
    lease_until: datetime | None = Field(None, description="a running job whose lease ran out is queued again")
    request_hash: str = ""
    idempotency_key: str | None = None
    timings: dict[str, float] = Field(default_factory=dict)


class OutputPublic(BaseModel):
    name: str
    size: int
    media_type: str
    url: str


class JobPublic(BaseModel):
    """A job as ``GET /scenes/{id}`` returns it."""

    id: str
    status: JobStatus
    options: SceneOptions
    width: int
    height: int
    has_depth: bool
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    progress: Progress
    error: JobError | None
    outputs: list[OutputPublic]
    timings: dict[str, float]

    @classmethod
    def from_record(cls, rec: JobRecord, base_url: str = "") -> JobPublic:
        outputs = [
            OutputPublic(
                name=o.name, size=o.size, media_type=o.media_type, url=f"{base_url}/scenes/{rec.id}/files/{o.name}"
            )
            for o in rec.outputs
        ]
        return cls(
            id=rec.id,
            status=rec.status,
            options=rec.options,
            width=rec.inputs.width,
            height=rec.inputs.height,
            has_depth=rec.inputs.depth_key is not None,
            created_at=rec.created_at,
            updated_at=rec.updated_at,
            started_at=rec.started_at,
            finished_at=rec.finished_at,
            progress=rec.progress,
            error=rec.error,
            outputs=outputs,
            timings=rec.timings,
        )


class JobList(BaseModel):
    """One page of the caller's jobs, newest first."""

    data: list[JobPublic]
    count: int = Field(description="all jobs of this caller")
    offset: int
    limit: int


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = Field(default_factory=dict)
