"""The Gaussian stage as one call, shared by ``gld8tr run --gaussians`` and the service worker.

Two methods: ``feedforward`` predicts one Gaussian per pixel of every view with the splatter network
(``core.splatter``, about a second on a CPU) and ``fit`` optimises Gaussians against the views (minutes on a
CPU), starting from the point cloud or, with ``init="feedforward"``, from the feed-forward splats. Either way
the Gaussians are written (``.ply`` 3DGS layout, ``.splat`` or ``.spz`` by suffix) with a sidecar JSON of
metrics beside them, and the metrics are returned.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from core.gaussians.axes import Axes
from core.gaussians.fit import FitConfig, SceneLike, fit_gaussians
from core.io.atomic import write_bytes_atomic

log = logging.getLogger(__name__)

GsMethod = Literal["auto", "feedforward", "fit"]
GS_METHODS: tuple[str, ...] = ("auto", "feedforward", "fit")
DEFAULT_GS_METHOD: GsMethod = "auto"
"""``auto``: ``feedforward`` on the CPU, ``fit`` on CUDA. Measured on this project's CPU (gld8tr-splatter's model
card, ``python -m benchmark.splatter --stage examples/coffee.jpg``): for a 512-px stage scene the fit's CPU default
takes ~48 CPU-seconds for 160-px splats, feed-forward splats with their colour solve ~1.8 CPU-seconds at 512 px
and ~0.2 at 160 px, where they reproduce the input photo as well as the fit does; on CUDA the fit runs with
gsplat at full resolution and also refines geometry for the novel views (not measured here: no GPU)."""


def resolve_method(method: str, device: str) -> str:
    """``auto`` -> ``fit`` on CUDA, ``feedforward`` otherwise (``device`` may be ``auto``)."""
    if method != "auto":
        return method
    import torch

    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    return "fit" if cuda else "feedforward"
GsInit = Literal["points", "feedforward"]


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
    method: GsMethod = DEFAULT_GS_METHOD,
    init: GsInit = "points",
    checkpoint: str | None = None,
    color_solve: int | None = None,
) -> dict[str, Any]:
    """Make Gaussians by ``method``, save to ``output_path`` and ``<stem>.json``; returns the metrics.

    ``iters`` / ``max_side``: see ``FitConfig`` (None / -1 pick the device defaults; ``max_side`` is the
    feed-forward working resolution too). ``init``: the fit's starting point. ``checkpoint``: a splatter
    checkpoint folder instead of the shipped one. ``color_solve``: conjugate-gradient steps of the feed-forward
    splats' closed-form colour solve (``core.splatter.color_solve``; None = its default, 0 = off).
    """
    from core.gaussians import FORMATS, save_gaussians

    output = Path(output_path)
    if output.suffix.lower() not in FORMATS:
        raise ValueError(f"Gaussian output must end in {', '.join(FORMATS)}; got {output.name!r}")
    if method not in GS_METHODS:
        raise ValueError(f"Gaussian method must be one of {', '.join(GS_METHODS)}; got {method!r}")
    method = resolve_method(method, device)
    if method == "feedforward":
        metrics, gaussians = _feedforward(scene, device=device, max_side=max_side, checkpoint=checkpoint,
                                          solve_iters=color_solve)
    else:
        start = None
        if init == "feedforward":
            from core.splatter.feedforward import feedforward_gaussians

            start = feedforward_gaussians(scene, checkpoint=checkpoint, device=device, max_side=max_side,
                                          solve_iters=color_solve).gaussians
        result = fit_gaussians(
            scene, FitConfig(iters=iters, max_side=max_side, seed=seed), device=device, progress=progress,
            on_progress=on_progress, init=start,
        )
        metrics, gaussians = {**result.summary(), "method": "fit", "init": init}, result.gaussians
    save_gaussians(gaussians, output, axes=axes)
    summary = {
        **metrics,
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


def _feedforward(scene: SceneLike, *, device: str, max_side: int | None, checkpoint: str | None,  # noqa: ANN202
                 eval_max_side: int | None = -1, solve_iters: int | None = None):
    """Feed-forward splats and their metrics, with PSNR per view measured like the fit's: at the working
    resolution (``eval_max_side`` -1; or at that longest side, None = full). Splats made at 512 px and drawn at
    160 px alias (the front splat of the ten under a pixel wins), which read 23 dB for a photo reproduced at 43."""
    import torch

    from core.gaussians.fit import _resize_targets, evaluate, pick_renderer
    from core.splatter.feedforward import feedforward_gaussians

    result = feedforward_gaussians(scene, checkpoint=checkpoint, device=device, max_side=max_side,
                                   solve_iters=solve_iters)
    dev = torch.device(result.device)
    _, render = pick_renderer("auto", dev)
    if eval_max_side == -1:
        eval_max_side = max(result.resolution)
    cams, targets = _resize_targets(scene.cameras, scene.views, eval_max_side, dev)
    psnrs = evaluate(result.gaussians.to(dev), cams, targets, render)
    return {**result.summary(), "iterations": 0, "renderer": "splatter-net", "psnr_input_db": round(psnrs[0], 3),
            "psnr_views_db": [round(p, 3) for p in psnrs], "eval_max_side": eval_max_side}, result.gaussians
