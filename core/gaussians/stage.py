"""The Gaussian stage as one call, shared by ``gld8tr run --gaussians`` and the service worker.

Fits Gaussians to a generated scene, writes them (``.ply`` 3DGS layout or ``.splat`` by suffix) and a sidecar
JSON with the fit metrics beside them, and returns those metrics.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.gaussians.axes import Axes
from core.gaussians.fit import FitConfig, SceneLike, fit_gaussians
from core.io.atomic import write_bytes_atomic

log = logging.getLogger(__name__)


def gaussian_stage(
    scene: SceneLike,
    output_path: str | os.PathLike[str],
    *,
    iters: int | None = None,
    max_side: int | None = -1,
    axes: Axes = "opencv",
    device: str = "auto",
    seed: int = 0,
    progress: bool = False,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Fit, save to ``output_path`` and ``<stem>.json``; returns the metrics (``FitResult.summary()`` + paths).

    ``iters`` / ``max_side``: see ``FitConfig`` (None / -1 pick the device defaults).
    """
    from core.gaussians import FORMATS, save_gaussians

    output = Path(output_path)
    if output.suffix.lower() not in FORMATS:
        raise ValueError(f"Gaussian output must end in {', '.join(FORMATS)}; got {output.name!r}")
    result = fit_gaussians(
        scene, FitConfig(iters=iters, max_side=max_side, seed=seed), device=device, progress=progress,
        on_progress=on_progress,
    )
    save_gaussians(result.gaussians, output, axes=axes)
    summary = {
        **result.summary(),
        "path": output.name,
        "axes": axes,
        "format": output.suffix.lower().lstrip("."),
        "fov_deg": round(scene.cameras[0].intrinsics.fov_x_deg, 4),  # the viewer starts from the input camera
    }
    write_bytes_atomic(output.with_suffix(".json"), (json.dumps(summary, indent=2) + "\n").encode("utf-8"))
    log.info(
        "Gaussians -> %s: %d splats, PSNR input %.2f dB, views %s dB",
        output, summary["num_gaussians"], summary["psnr_input_db"], summary["psnr_views_db"],
    )
    return summary
