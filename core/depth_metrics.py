"""Depth error metrics: the one implementation behind training validation, the model card and ``gld8tr benchmark``.

Rules, the same for every caller (why: numbers from different commands must be comparable):

* a pixel is scored only where the ground truth is finite and positive, and only inside the caller's region;
* a non-finite or non-positive *prediction* on a scored pixel is a failure of the method, not a pixel to skip: it
  counts as 0 m, which gives the error |gt| and fails delta1;
* a region without scored pixels gives NaN for every metric (never 0, which would read as perfect).

Errors are accumulated as sums (:class:`ErrorSums`), so a caller can report them per image (the benchmark: mean
over pairs of per-pair metrics, as Invisible Stitch's evaluation) or pooled over pixels (training validation)
without a second implementation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DELTA1_THRESHOLD = 1.25
METRIC_NAMES = ("mae", "rmse", "absrel", "delta1")
"""Metrics of a pixel set, in this order: metres, metres, fraction, fraction."""


@dataclass(frozen=True)
class ErrorSums:
    """Sums over scored pixels of |p - g|, (p - g)^2, |p - g| / g and [max(p/g, g/p) < 1.25]; ``n`` pixels."""

    n: int = 0
    abs_err: float = 0.0
    sq_err: float = 0.0
    rel_err: float = 0.0
    delta1_hits: float = 0.0

    def __add__(self, other: ErrorSums) -> ErrorSums:
        return ErrorSums(self.n + other.n, self.abs_err + other.abs_err, self.sq_err + other.sq_err,
                         self.rel_err + other.rel_err, self.delta1_hits + other.delta1_hits)

    def metrics(self) -> dict[str, float]:
        """``{mae, rmse, absrel, delta1}``; NaN for each when no pixel was scored."""
        if self.n == 0:
            return dict.fromkeys(METRIC_NAMES, math.nan)
        return {"mae": self.abs_err / self.n, "rmse": math.sqrt(self.sq_err / self.n),
                "absrel": self.rel_err / self.n, "delta1": self.delta1_hits / self.n}


def scored_pixels(gt: np.ndarray, region: np.ndarray | None = None) -> np.ndarray:
    """bool mask of the pixels that count: finite, positive ground truth inside ``region`` (all pixels if None)."""
    valid = np.isfinite(gt) & (gt > 0)
    return valid if region is None else valid & region.astype(bool)


def error_sums(pred: np.ndarray, gt: np.ndarray, region: np.ndarray | None = None) -> ErrorSums:
    """:class:`ErrorSums` of ``pred`` against ``gt`` (same shape, metres) on ``region``'s scored pixels."""
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in shape")
    m = scored_pixels(gt, region)
    if not m.any():
        return ErrorSums()
    g = gt[m].astype(np.float64)
    p = pred[m].astype(np.float64)
    p = np.where(np.isfinite(p) & (p > 0), p, 0.0)
    err = p - g
    ratio = np.maximum(p / g, g / np.maximum(p, 1e-12))
    return ErrorSums(int(m.sum()), float(np.abs(err).sum()), float((err**2).sum()), float((np.abs(err) / g).sum()),
                     float((ratio < DELTA1_THRESHOLD).sum()))


def depth_errors(pred: np.ndarray, gt: np.ndarray, region: np.ndarray | None = None) -> dict[str, float]:
    """MAE and RMSE (metres), AbsRel and delta1 of ``pred`` on ``region`` (see the module's rules)."""
    return error_sums(pred, gt, region).metrics()


def median_scaled(pred: np.ndarray, gt: np.ndarray, region: np.ndarray | None = None) -> np.ndarray:
    """``pred`` times median(gt / pred) over the scored pixels where ``pred`` > 0 (unchanged if there are none):
    the monocular shape with its unknowable global scale taken from the ground truth."""
    m = scored_pixels(gt, region) & np.isfinite(pred) & (pred > 0)
    if not m.any():
        return pred
    return (pred * np.median(gt[m] / pred[m])).astype(pred.dtype)
