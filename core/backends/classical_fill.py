"""Depth completion without learning: the fills a user would try before a network.

``nearest`` copies the depth of the closest known pixel (what a z-buffer "hole filling" pass does); ``laplacian``
solves Laplace's equation in the hole with the known depth as boundary condition, the smoothest surface that
meets the known geometry (LucidDreamer-style interpolation); ``background`` takes the far side of the hole on its
row; ``plane`` continues the local plane at the hole's edge (affine in inverse depth). All ignore the image, which
is the point: they are the floor a learned completer has to beat. None can work without any known depth, so all
raise ``ValueError`` for an all-False mask, as :class:`core.backends.base.DepthCompleter` allows. The fill
arithmetic lives in :mod:`core.fill` and :mod:`core.depthnet` (shared with the network's fill priors); this module
wraps it as registry backends.
"""

from __future__ import annotations

import numpy as np

from core.errors import InputError
from core.fill import laplacian_fill, nearest_fill

__all__ = ["BackgroundFill", "LaplacianFill", "NearestFill", "PlaneFill", "background_fill", "build_background",
           "build_laplacian", "build_nearest", "build_plane", "laplacian_fill", "nearest_fill", "plane_fill"]


def _check(image: np.ndarray, depth: np.ndarray, known_mask: np.ndarray) -> np.ndarray:
    """The usable known pixels (mask True and depth positive and finite), after shape checks."""
    if depth.ndim != 2 or known_mask.shape != depth.shape or image.shape[:2] != depth.shape:
        raise ValueError(
            f"image {image.shape}, depth {depth.shape} and known_mask {known_mask.shape} must share [H, W]"
        )
    known = known_mask.astype(bool) & np.isfinite(depth) & (depth > 0)
    if not known.any():
        raise ValueError("classical fills need some known depth; known_mask has no valid pixel")
    return known


def background_fill(depth: np.ndarray, known: np.ndarray) -> np.ndarray:
    """``depth`` with every unknown pixel set to the farthest known depth of the smallest enclosing pyramid block
    that holds any (:func:`core.depthnet.model.background_fill` on log depth); float32 [H, W]. Disocclusion holes
    show the background, so a far-biased fill beats extending whichever side of an edge is closer."""
    import torch

    from core.depthnet.model import background_fill as torch_background_fill

    logd = torch.from_numpy(np.log(np.where(known, depth, 1.0)).astype(np.float32))[None, None]
    mask = torch.from_numpy(known.astype(np.float32))[None, None]
    filled = torch_background_fill(logd, mask)[0, 0].exp().numpy()
    return np.where(known, depth, filled).astype(np.float32)


class NearestFill:
    """``DepthCompleter`` that copies the nearest known depth into the holes."""

    name = "nearest"

    def __call__(self, image: np.ndarray, depth: np.ndarray, known_mask: np.ndarray) -> np.ndarray:
        return nearest_fill(depth, _check(image, depth, known_mask))


class LaplacianFill:
    """``DepthCompleter`` that fills the holes with the harmonic (smoothest) surface through the known depth."""

    name = "laplacian"

    def __call__(self, image: np.ndarray, depth: np.ndarray, known_mask: np.ndarray) -> np.ndarray:
        return laplacian_fill(depth, _check(image, depth, known_mask))


def plane_fill(depth: np.ndarray, known: np.ndarray) -> np.ndarray:
    """``depth`` with every unknown pixel on the local plane of its nearest known pixel, continued in inverse depth
    (:func:`core.depthnet.plane.plane_fill`); float32 [H, W]. Out-of-view strips are mostly the continuation of the
    surface at the old view's edge, which the constant-depth and smoothing fills bend."""
    import torch

    from core.depthnet.plane import plane_fill as torch_plane_fill

    logd = torch.from_numpy(np.log(np.where(known, depth, 1.0)).astype(np.float64))[None, None]
    filled = torch_plane_fill(logd, torch.from_numpy(known)[None, None])[0, 0].exp().numpy()
    return np.where(known, depth, filled).astype(np.float32)


class BackgroundFill:
    """``DepthCompleter`` that fills the holes with the farthest nearby known depth (a max push-pull)."""

    name = "background"

    def __call__(self, image: np.ndarray, depth: np.ndarray, known_mask: np.ndarray) -> np.ndarray:
        return background_fill(depth, _check(image, depth, known_mask))


class PlaneFill:
    """``DepthCompleter`` that continues the local plane at the edge of each hole (affine in inverse depth)."""

    name = "plane"

    def __call__(self, image: np.ndarray, depth: np.ndarray, known_mask: np.ndarray) -> np.ndarray:
        return plane_fill(depth, _check(image, depth, known_mask))


def _no_arg(kind: str, arg: str | None) -> None:
    if arg:
        raise InputError(f"the {kind!r} depth completer takes no argument, got {arg!r}")


def build_nearest(arg: str | None = None, *, device: str = "cpu", **options: object) -> NearestFill:
    """Registry factory for spec ``nearest`` (CPU only; ``device`` is accepted and ignored)."""
    _no_arg("nearest", arg)
    return NearestFill()


def build_laplacian(arg: str | None = None, *, device: str = "cpu", **options: object) -> LaplacianFill:
    """Registry factory for spec ``laplacian`` (CPU only; ``device`` is accepted and ignored)."""
    _no_arg("laplacian", arg)
    return LaplacianFill()


def build_background(arg: str | None = None, *, device: str = "cpu", **options: object) -> BackgroundFill:
    """Registry factory for spec ``background`` (CPU only; ``device`` is accepted and ignored)."""
    _no_arg("background", arg)
    return BackgroundFill()


def build_plane(arg: str | None = None, *, device: str = "cpu", **options: object) -> PlaneFill:
    """Registry factory for spec ``plane`` (CPU only; ``device`` is accepted and ignored)."""
    _no_arg("plane", arg)
    return PlaneFill()
