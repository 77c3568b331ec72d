"""Validation of a depth network on held-out synthetic scenes, with the two classical baselines beside it.

Regions: ``hole`` = completion samples' pixels that no other view saw (the regions the pipeline asks the net to
fill; they border known depth by construction), ``frame`` = monocular samples' whole frames. Baselines on the
same hole pixels: nearest-valid fill, the harmonic (Laplacian) fill, and the same network run *without* its depth
channels then aligned to the known depth by least-squares scale and shift -- the difference isolates what
conditioning on known depth buys.
"""

from __future__ import annotations

import numpy as np
import torch

from core import fill
from training.completion_dataset import Batch
from training.losses import depth_metrics, pool_metrics


def nearest_fill(depth: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Every unknown pixel takes the depth of the nearest known pixel (Euclidean in the image); 0 if none known."""
    if not known.any():
        return np.zeros_like(depth)
    return fill.nearest_fill(depth, known)


def laplacian_fill(depth: np.ndarray, known: np.ndarray) -> np.ndarray:
    """The harmonic interpolation of the known depth (metres) into the holes; 0 if nothing is known."""
    if not known.any():
        return np.zeros_like(depth)
    return fill.laplacian_fill(depth, known)


def align_scale_shift(pred: np.ndarray, depth: np.ndarray, known: np.ndarray) -> np.ndarray:
    """``s * pred + t`` with (s, t) minimising the squared error to ``depth`` on ``known`` (2x2 normal equations).

    Falls back to scale only if the known pixels are degenerate (constant prediction).
    """
    p, d = pred[known].astype(np.float64), depth[known].astype(np.float64)
    if p.size < 2:
        return pred.copy()
    A = np.stack([p, np.ones_like(p)], axis=1)
    AtA = A.T @ A
    if abs(np.linalg.det(AtA)) < 1e-9 * max(1.0, float(AtA[0, 0])):
        s, t = float(d.sum() / max(p.sum(), 1e-9)), 0.0
    else:
        s, t = np.linalg.solve(AtA, A.T @ d)
    return (s * pred + t).astype(np.float32).clip(min=1e-3)


def _median_scaled(pred: torch.Tensor, target: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """``pred`` [B,1,H,W] with each image multiplied by median(target / pred) over its ``region`` (1 if empty)."""
    out = pred.clone()
    for i in range(pred.shape[0]):
        r = region[i] & (target[i] > 0)
        if bool(r.any()):
            out[i] = pred[i] * (target[i][r] / pred[i][r]).median()
    return out


@torch.inference_mode()
def evaluate(model: torch.nn.Module, batches: list[Batch], *, baselines: bool = False) -> dict[str, float]:
    """Metrics (absrel, delta1, mae, rmse, n) as flat ``{region}_{metric}`` keys.

    ``hole_*``: the net completing holes; ``frame_*``: the net as a monocular estimator on whole frames;
    ``frame_scaled_*``: the same with each frame scaled to the true median depth (shape only, no global scale);
    ``known_mae``: how far the raw prediction strays from the known depth (before :meth:`meet_known`). With
    ``baselines``: ``nearest_hole_*``, ``laplacian_hole_*`` and ``alignedmono_hole_*`` on the very same hole
    pixels, and ``constant_frame_scaled_*`` (a constant depth per frame, median-scaled) on the frames.
    """
    was_training = model.training
    model.eval()
    parts: dict[str, list[dict[str, float]]] = {"hole": [], "frame": [], "frame_scaled": [], "known": [],
                                                "nearest_hole": [], "laplacian_hole": [], "alignedmono_hole": [],
                                                "constant_frame_scaled": []}
    try:
        for b in batches:
            raw_log = model.predict_log(b.rgb, b.known_depth, b.known.float())
            pred = model.depth_from_log(model.meet_known(raw_log, b.known_depth, b.known.float()))
            comp = b.completion[:, None, None, None]
            frames = b.target_valid & ~comp
            parts["hole"].append(depth_metrics(pred, b.target, b.hole))
            parts["known"].append(depth_metrics(model.depth_from_log(raw_log), b.known_depth, b.known & comp))
            parts["frame"].append(depth_metrics(pred, b.target, frames))
            parts["frame_scaled"].append(depth_metrics(_median_scaled(pred, b.target, frames), b.target, frames))
            if baselines:  # the floor for the shape: one constant depth per frame, scaled the same way
                flat = _median_scaled(torch.ones_like(pred), b.target, frames)
                parts["constant_frame_scaled"].append(depth_metrics(flat, b.target, frames))
            if baselines and bool(b.completion.any()):
                mono = model(b.rgb, torch.zeros_like(b.known_depth), torch.zeros_like(b.known_depth))
                near = torch.zeros_like(pred)
                lap = torch.zeros_like(pred)
                aligned = torch.zeros_like(pred)
                for i in torch.nonzero(b.completion).flatten().tolist():
                    kd, kn = b.known_depth[i, 0].numpy(), b.known[i, 0].numpy()
                    near[i, 0] = torch.from_numpy(nearest_fill(kd, kn))
                    lap[i, 0] = torch.from_numpy(laplacian_fill(kd, kn))
                    aligned[i, 0] = torch.from_numpy(align_scale_shift(mono[i, 0].numpy(), kd, kn))
                parts["nearest_hole"].append(depth_metrics(near, b.target, b.hole))
                parts["laplacian_hole"].append(depth_metrics(lap, b.target, b.hole))
                parts["alignedmono_hole"].append(depth_metrics(aligned, b.target, b.hole))
    finally:
        model.train(was_training)
    out: dict[str, float] = {}
    for region, items in parts.items():
        if not items:
            continue
        pooled = pool_metrics(items)
        if region == "known":
            out["known_mae"] = pooled["mae"]
            continue
        out.update({f"{region}_{k}": v for k, v in pooled.items()})
    return out
