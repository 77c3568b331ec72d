"""Monocular depth aligned to the known depth: the completion baseline of Text2Room and LucidDreamer.

Any :class:`~core.backends.base.DepthEstimator` predicts depth for the whole image; a global scale and shift,
fitted by least squares on the known pixels, bring it into the scene's frame; the known pixels keep their known
depth. A global affine fit never matches the known depth exactly at the edge of the hole, and the step it leaves
is the classic seam artefact, so the residual (known minus aligned) at the hole's border is carried into the
hole and faded out with distance (``blend_px``). Without any known depth the estimator's prediction is returned
unchanged (a monocular prediction, as the protocol asks).
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage

from core.backends.base import DepthEstimator

log = logging.getLogger(__name__)

DEFAULT_ESTIMATOR = "gld8tr"
DEFAULT_BLEND_PX = 8.0
MIN_DEPTH = 1e-3


def fit_scale_shift(pred: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """``(s, t)`` minimising sum (s * pred + t - target)^2 over the given 1-D samples (2x2 normal equations).

    A non-positive scale would turn the scene inside out; it happens only when the prediction is useless
    (constant, or anti-correlated with the known depth), and then the fit falls back to a pure scale
    (ratio of medians), which keeps the prediction's shape and is never negative.
    """
    p = pred.astype(np.float64)
    q = target.astype(np.float64)
    n = p.size
    if n == 0:
        raise ValueError("fit_scale_shift needs at least one sample")
    a11, a12, b1, b2 = float(p @ p), float(p.sum()), float(p @ q), float(q.sum())
    det = a11 * n - a12 * a12
    if n >= 2 and det > 1e-12 * max(a11 * n, 1e-30):
        s = (b1 * n - a12 * b2) / det
        t = (a11 * b2 - a12 * b1) / det
        if s > 0:
            return s, t
    med_p = float(np.median(p))
    s = float(np.median(q)) / med_p if med_p > 0 else 1.0
    return s, 0.0


def blend_seam(aligned: np.ndarray, depth: np.ndarray, known: np.ndarray, blend_px: float) -> np.ndarray:
    """Known depth on ``known``; in the hole, ``aligned`` plus the nearest known pixel's residual (known minus
    aligned) faded by exp(-distance / blend_px), so the fill meets the known surface without a step."""
    out = aligned.astype(np.float64).copy()
    out[known] = depth[known]
    if blend_px > 0 and (~known).any():
        dist, (rows, cols) = ndimage.distance_transform_edt(~known, return_indices=True)
        residual = depth.astype(np.float64) - aligned
        hole = ~known
        out[hole] = aligned[hole] + residual[rows[hole], cols[hole]] * np.exp(-dist[hole] / blend_px)
    return out


class AlignedMono:
    """``DepthCompleter``: ``estimator`` + least-squares scale and shift on the known pixels + seam blending."""

    def __init__(self, estimator: DepthEstimator, *, blend_px: float = DEFAULT_BLEND_PX) -> None:
        self.estimator = estimator
        self.blend_px = float(blend_px)
        self.name = f"aligned-mono:{getattr(estimator, 'name', type(estimator).__name__)}"

    def __call__(self, image: np.ndarray, depth: np.ndarray, known_mask: np.ndarray) -> np.ndarray:
        if depth.ndim != 2 or known_mask.shape != depth.shape or image.shape[:2] != depth.shape:
            raise ValueError(
                f"image {image.shape}, depth {depth.shape} and known_mask {known_mask.shape} must share [H, W]"
            )
        mono = np.asarray(self.estimator(image), dtype=np.float64)
        if mono.shape != depth.shape:
            raise ValueError(f"estimator {self.estimator!r} returned {mono.shape}, expected {depth.shape}")
        known = known_mask.astype(bool) & np.isfinite(depth) & (depth > 0) & np.isfinite(mono)
        if not known.any():
            return mono.astype(np.float32)
        s, t = fit_scale_shift(mono[known], depth[known])
        log.debug("aligned-mono: scale %.4f shift %.4f on %d known pixels", s, t, int(known.sum()))
        aligned = s * mono + t
        out = blend_seam(aligned, depth, known, self.blend_px)
        return np.maximum(out, MIN_DEPTH).astype(np.float32)


def build(
    arg: str | None = None, *, device: str = "cpu", blend_px: float = DEFAULT_BLEND_PX, **options: object
) -> AlignedMono:
    """Registry factory for ``aligned-mono[:ESTIMATOR_SPEC]``; the estimator is built through the registry.

    ``aligned-mono:ckpt:/path`` aligns that checkpoint's monocular prediction; the default is the shipped net.
    """
    from core.backends.registry import build_depth_estimator

    estimator = build_depth_estimator(arg or DEFAULT_ESTIMATOR, device=device, **options)
    return AlignedMono(estimator, blend_px=blend_px)
