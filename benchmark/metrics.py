"""Depth errors of a completed view against its ground truth, on the hole, at the seam and on all pixels.

The question the benchmark asks is "how good is the depth a method invents where the known geometry stops?",
so every number is computed on a named pixel set: ``hole`` (valid ground truth not covered by the known depth),
``seam`` (hole pixels within ``k`` px of the known region, where a bad fill shows as a visible step in the
merged point cloud) and ``all`` (every pixel with valid ground truth). Invalid ground truth (0 or non-finite)
is excluded everywhere. The per-pixel errors and their rules are :mod:`core.depth_metrics`, shared with training
validation and the model card.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from core.depth_metrics import DELTA1_THRESHOLD, METRIC_NAMES, depth_errors

__all__ = ["DEFAULT_SEAM_PX", "DELTA1_THRESHOLD", "METRIC_NAMES", "PixelSets", "depth_errors", "pixel_sets", "score"]

DEFAULT_SEAM_PX = 5


@dataclass(frozen=True)
class PixelSets:
    """Boolean [H, W] masks of one evaluation pair."""

    valid: np.ndarray  # ground truth usable
    hole: np.ndarray  # valid and not known
    seam: np.ndarray  # hole pixels within k px of a known pixel


def pixel_sets(gt: np.ndarray, known_mask: np.ndarray, seam_px: int = DEFAULT_SEAM_PX) -> PixelSets:
    """Split ``gt`` [H, W] into the pixel sets scored by :func:`score`.

    The seam uses the Euclidean distance from a hole pixel's centre to the nearest known pixel's centre, so
    ``seam_px=1`` is the 4-neighbour ring around the known region (diagonal neighbours lie sqrt(2) away).
    """
    if gt.shape != known_mask.shape:
        raise ValueError(f"gt {gt.shape} and known_mask {known_mask.shape} differ in shape")
    valid = np.isfinite(gt) & (gt > 0)
    known = known_mask.astype(bool)
    hole = valid & ~known
    if known.any():
        dist = ndimage.distance_transform_edt(~known)
        seam = hole & (dist <= seam_px)
    else:
        seam = np.zeros_like(hole)
    return PixelSets(valid=valid, hole=hole, seam=seam)


def score(pred: np.ndarray, gt: np.ndarray, known_mask: np.ndarray, seam_px: int = DEFAULT_SEAM_PX) -> dict[str, float]:
    """All metrics of one completed view: ``{metric}_{hole|seam|all}`` plus pixel counts ``n_hole``, ``n_seam``."""
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in shape")
    sets = pixel_sets(gt, known_mask, seam_px)
    out: dict[str, float] = {}
    for label, mask in (("hole", sets.hole), ("seam", sets.seam), ("all", sets.valid)):
        for key, value in depth_errors(pred, gt, mask).items():
            out[f"{key}_{label}"] = value
    out["n_hole"] = int(sets.hole.sum())
    out["n_seam"] = int(sets.seam.sum())
    return out
