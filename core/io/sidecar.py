"""The JSON written beside every scene PLY: how it was made and how to look at it.

A pydantic model because the same document crosses the service boundary (the worker uploads it next to the PLY
and the API returns it): cameras (intrinsics + camera-to-world, OpenCV axes, metres), mode, prompt, seed,
backends, per-stage timings, versions, and the files of the generated views when they were saved.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, Field

from core.io.atomic import write_bytes_atomic

SIDECAR_FORMAT = "gld8tr-scene/1"


class CameraRecord(BaseModel):
    intrinsics: dict[str, float | int]
    cam_to_world: list[list[float]] = Field(description="4x4 camera-to-world, OpenCV axes (x right, y down, z fwd)")


class SceneSidecar(BaseModel):
    format: str = SIDECAR_FORMAT
    ply: str = Field(description="file name of the point cloud, relative to this JSON")
    num_points: int
    has_normals: bool
    mode: str
    prompt: str
    seed: int
    image_size: tuple[int, int] = Field(description="(width, height) of every view")
    cameras: list[CameraRecord]
    backends: dict[str, str]
    device: str
    timings: dict[str, float] = Field(description="seconds per stage, summed over views; 'total' is wall time")
    peak_memory_mb: dict[str, float] = Field(default_factory=dict,
                                             description="peak memory per stage in MiB (worst view); see kind")
    peak_memory_kind: str = Field(default="", description="cuda_max_allocated (per stage, reset on entry) or "
                                  "cpu_process_max_rss (process RSS high-water mark, cumulative); core.vram")
    versions: dict[str, str]
    views: list[str] = Field(default_factory=list, description="view images, relative to this JSON")
    extra: dict = Field(default_factory=dict)


def sidecar_path(ply_path: str | Path) -> Path:
    """``scene.ply`` -> ``scene.json``."""
    return Path(ply_path).with_suffix(".json")


def write_sidecar(path: str | Path, sidecar: SceneSidecar) -> Path:
    data = json.dumps(sidecar.model_dump(mode="json"), indent=2).encode()
    write_bytes_atomic(path, data + b"\n")
    return Path(path)


def read_sidecar(path: str | Path) -> SceneSidecar:
    return SceneSidecar.model_validate_json(Path(path).read_text(encoding="utf-8"))
