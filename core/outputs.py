"""Writing a generated scene's outputs: the one function ``gld8tr run`` and the service worker both call.

Why one function: the point cloud (PLY + sidecar JSON), the per-view PNGs, the preview strip and the fitted
Gaussians must come out the same whichever entry point made them; two writers would drift apart.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import Cancelled

log = logging.getLogger(__name__)

PREVIEW_MAX_WIDTH = 1024
"""The preview strip is scaled down to at most this many pixels wide."""


@dataclass
class WrittenOutputs:
    """What :func:`write_outputs` wrote: the sidecar dict, and the Gaussian fit's metrics if a fit ran."""

    sidecar: dict[str, Any]
    gaussians: dict[str, Any] | None = None
    mesh: dict[str, Any] | None = None  # faces, vertices, voxel_size, seconds
    video: dict[str, Any] | None = None  # frames, width, height, fps, source ("gaussians" | "points"), seconds
    files: list[Path] = field(default_factory=list)


def make_preview(views: list[np.ndarray], path: str | Path) -> None:
    """The generated views side by side (at most 4), scaled to at most ``PREVIEW_MAX_WIDTH`` px wide, as PNG."""
    from PIL import Image

    strip = np.concatenate(list(views[:4]), axis=1)
    img = Image.fromarray(strip)
    if img.width > PREVIEW_MAX_WIDTH:
        img = img.resize((PREVIEW_MAX_WIDTH, max(1, round(img.height * PREVIEW_MAX_WIDTH / img.width))))
    img.save(path, format="PNG")


def write_outputs(
    scene: Any,
    ply_path: str | Path,
    *,
    views_dir: str | Path | None = None,
    preview_path: str | Path | None = None,
    gaussians_path: str | Path | None = None,
    mesh_path: str | Path | None = None,
    video_path: str | Path | None = None,
    video_frames: int | None = None,
    gs_iters: int | None = None,
    gs_max_side: int | None = -1,
    gs_axes: str = "opencv",
    gs_method: str = "auto",
    gs_init: str = "points",
    gs_checkpoint: str | None = None,
    gs_color_solve: int | None = None,
    device: str = "auto",
    seed: int = 0,
    progress: bool = False,
    on_progress: Callable[[str, int, int], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> WrittenOutputs:
    """Write ``scene`` (a :class:`core.pipeline.Scene`): the PLY and its sidecar JSON (atomically, together),
    the views into ``views_dir``, the preview strip to ``preview_path`` and, with ``gaussians_path``, Gaussians
    of the views (``.ply`` 3DGS, ``.splat`` or ``.spz``, plus their ``.json`` metrics) made by ``gs_method``
    (``core.gaussians.stage``: feed-forward, fit, or auto), and with ``mesh_path`` the triangle mesh of
    the views' fused depths (``.glb`` or ``.ply``; seconds, not minutes: ``scene.timings["mesh"]``). With
    ``video_path``, an orbit fly-through MP4 of the Gaussians when they were made, else of the point cloud
    (``core.video.write_scene_video``; ``scene.timings["video"]``).

    The fit is the slow part: ``should_cancel`` is checked before it and at each of its progress reports
    (raising :class:`core.errors.Cancelled`); its time goes into ``scene.timings["gaussians"]``.
    """
    from core.pipeline import save_scene

    ply_path = Path(ply_path)
    sidecar = save_scene(scene, ply_path, views_dir=views_dir)
    written = WrittenOutputs(sidecar=sidecar, files=[ply_path, ply_path.with_suffix(".json")])
    if preview_path is not None:
        make_preview(scene.views, preview_path)
        written.files.append(Path(preview_path))
    if mesh_path is not None:
        from core.mesh.io import write_mesh
        from core.mesh.reconstruct import scene_mesh

        t0 = time.perf_counter()
        result = scene_mesh(scene)
        write_mesh(mesh_path, result.mesh)
        scene.timings["mesh"] = time.perf_counter() - t0
        written.mesh = {"faces": int(len(result.mesh.faces)), "vertices": int(len(result.mesh.vertices)),
                        "voxel_size": result.voxel_size, "seconds": scene.timings["mesh"]}
        written.files.append(Path(mesh_path))
    if gaussians_path is not None:
        _write_gaussians(scene, gaussians_path, written, gs_iters=gs_iters, gs_max_side=gs_max_side, gs_axes=gs_axes,
                         gs_method=gs_method, gs_init=gs_init, gs_checkpoint=gs_checkpoint,
                         gs_color_solve=gs_color_solve, device=device, seed=seed, progress=progress,
                         on_progress=on_progress, should_cancel=should_cancel)
    if video_path is not None:
        from core.video import DEFAULT_FRAMES, write_scene_video

        _stop_if_canceled(should_cancel, "before the video")

        def frame_done(done: int, total: int) -> None:
            _stop_if_canceled(should_cancel, "during the video")
            if on_progress is not None:
                on_progress("video", done, total)

        t0 = time.perf_counter()
        source = Path(gaussians_path) if gaussians_path is not None else ply_path
        written.video = write_scene_video(
            source, video_path, scene.cameras[0].intrinsics, frames=video_frames or DEFAULT_FRAMES,
            axes=gs_axes, device=device, progress=progress, on_frame=frame_done)
        scene.timings["video"] = time.perf_counter() - t0
        written.files.append(Path(video_path))
    return written


def _stop_if_canceled(should_cancel: Callable[[], bool] | None, when: str) -> None:
    if should_cancel is not None and should_cancel():
        raise Cancelled(f"canceled {when}")


def _write_gaussians(
    scene: Any, gaussians_path: str | Path, written: WrittenOutputs, *, gs_iters: int | None,
    gs_max_side: int | None, gs_axes: str, gs_method: str, gs_init: str, gs_checkpoint: str | None,
    gs_color_solve: int | None, device: str, seed: int, progress: bool,
    on_progress: Callable[[str, int, int], None] | None,
    should_cancel: Callable[[], bool] | None,
) -> None:
    from core.gaussians.stage import gaussian_stage

    _stop_if_canceled(should_cancel, "before the Gaussian fit")

    def report(stage: str, done: int, total: int) -> None:
        _stop_if_canceled(should_cancel, "during the Gaussian fit")
        if on_progress is not None:
            on_progress(stage, done, total)

    t0 = time.perf_counter()
    written.gaussians = gaussian_stage(
        scene, gaussians_path, iters=gs_iters, max_side=gs_max_side, axes=gs_axes, device=device,  # type: ignore[arg-type]
        seed=seed, progress=progress, on_progress=report, method=gs_method, init=gs_init,  # type: ignore[arg-type]
        checkpoint=gs_checkpoint, color_solve=gs_color_solve,
    )
    scene.timings["gaussians"] = time.perf_counter() - t0
    written.files += [Path(gaussians_path), Path(gaussians_path).with_suffix(".json")]
