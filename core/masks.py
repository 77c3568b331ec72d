"""The masks of one generation step, on host numpy arrays.

A new camera sees the current cloud with gaps of two kinds: thin cracks (pixels that no splat centre reached,
surrounded by covered pixels) and real holes (disoccluded or never-seen regions). Cracks are closed by copying
their nearest covered neighbour, because inpainting a one-pixel line is slow and smears; holes are what the
inpainter and the depth completer fill. The coverage is eroded before the inpaint mask is built so the jagged,
half-covered fringe of the cloud is repainted too, and the inpaint mask is dilated so the inpainter blends into
its surroundings.

Depth edges ("noodles"): a depth map predicted by a network changes smoothly across a foreground/background
boundary, so lifting it naively strings points along the rays between the two surfaces (a rubber sheet). Pixels
whose neighbourhood spans more depth than any plausible surface (see :func:`depth_edges`) are snapped to the
nearer of the neighbourhood's nearest and farthest depth, which puts every point on one surface or the other.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from core.fill import nearest_known_index

DEFAULT_EDGE_GRAZING_DEG = 86.0
"""Surfaces seen more obliquely than this count as depth discontinuities."""


def disk(radius: int) -> np.ndarray:
    """Boolean disk structuring element of the given radius in pixels ([2r+1, 2r+1])."""
    r = int(radius)
    y, x = np.mgrid[-r : r + 1, -r : r + 1]
    return (x * x + y * y) <= r * r + 0.5


def erode(mask: np.ndarray, radius: int) -> np.ndarray:
    """Binary erosion by a disk; the image border does not erode (outside counts as inside the mask)."""
    if radius <= 0:
        return mask.copy()
    return ndimage.binary_erosion(mask, structure=disk(radius), border_value=1)


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Binary dilation by a disk."""
    if radius <= 0:
        return mask.copy()
    return ndimage.binary_dilation(mask, structure=disk(radius))


def thin_cracks(coverage: np.ndarray, radius: int = 1) -> np.ndarray:
    """Uncovered pixels that a morphological closing of ``coverage`` by a disk of ``radius`` fills."""
    if radius <= 0 or coverage.all() or not coverage.any():
        return np.zeros_like(coverage)
    pad = radius + 1
    padded = np.pad(coverage, pad, mode="edge")  # so the image border does not read as a hole
    closed = ndimage.binary_closing(padded, structure=disk(radius))[pad:-pad, pad:-pad]
    return closed & ~coverage


def fill_from_nearest(values: np.ndarray, known: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Copy of ``values`` ([H, W] or [H, W, C]) where ``target`` pixels take their nearest ``known`` pixel's value."""
    out = values.copy()
    if not target.any() or not known.any():
        return out
    rows, cols = nearest_known_index(known)
    out[target] = values[rows[target], cols[target]]
    return out


def edge_threshold(focal_px: float, grazing_deg: float = DEFAULT_EDGE_GRAZING_DEG) -> float:
    """Largest log-depth change per pixel of a surface seen at ``grazing_deg`` from its normal by focal ``f``.

    A plane tilted by angle a changes depth by about ``tan(a) / f`` (relative) per pixel near the image centre.
    """
    return math.tan(math.radians(grazing_deg)) / focal_px


def _window_log_range(logd: np.ndarray, valid: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
    size = 2 * radius + 1
    hi = ndimage.maximum_filter(np.where(valid, logd, -np.inf), size=size, mode="nearest")
    lo = ndimage.minimum_filter(np.where(valid, logd, np.inf), size=size, mode="nearest")
    return lo, hi


def depth_edges(
    depth: np.ndarray, focal_px: float, grazing_deg: float = DEFAULT_EDGE_GRAZING_DEG, radius: int = 3
) -> np.ndarray:
    """Pixels within ``radius`` of a depth discontinuity: the log-depth range of their (2r+1)^2 window exceeds
    what a surface at ``grazing_deg`` spans over 2r pixels. Unknown depth (<= 0) is never an edge."""
    valid = np.isfinite(depth) & (depth > 0)
    if not valid.any():
        return np.zeros(depth.shape, dtype=bool)
    logd = np.log(np.where(valid, depth, 1.0))
    lo, hi = _window_log_range(logd, valid, radius)
    return valid & ((hi - lo) > 2 * radius * edge_threshold(focal_px, grazing_deg))


def snap_depth_edges(
    depth: np.ndarray,
    focal_px: float,
    grazing_deg: float = DEFAULT_EDGE_GRAZING_DEG,
    radius: int = 3,
    iterations: int = 2,
) -> np.ndarray:
    """Turn smooth foreground/background ramps into steps: every edge pixel (see :func:`depth_edges`) takes the
    nearer, in log depth, of its window's minimum and maximum, i.e. the foreground or the background surface.

    Two passes, because the first leaves the ramp's shallow tails, whose windows then see the sharpened step.
    Returns a new float32 map; unknown pixels stay 0.
    """
    valid = np.isfinite(depth) & (depth > 0)
    out = np.where(valid, depth, 0).astype(np.float32)
    if not valid.any():
        return out
    logd = np.log(np.where(valid, out, 1.0))
    thr = 2 * radius * edge_threshold(focal_px, grazing_deg)
    moved = np.zeros(depth.shape, dtype=bool)
    for _ in range(iterations):
        lo, hi = _window_log_range(logd, valid, radius)
        zone = valid & ((hi - lo) > thr)
        if not zone.any():
            break
        logd = np.where(zone, np.where(hi - logd < logd - lo, hi, lo), logd)
        moved |= zone
    out[moved] = np.exp(logd[moved])
    return out
