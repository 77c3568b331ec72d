"""Depth completion without learning: the fills a user would try before a network.

``nearest`` copies the depth of the closest known pixel (what a z-buffer "hole filling" pass does); ``laplacian``
solves Laplace's equation in the hole with the known depth as boundary condition, the smoothest surface that
meets the known geometry (LucidDreamer-style interpolation). Both ignore the image, which is the point: they
are the floor a learned completer has to beat. Neither can work without any known depth, so both raise
``ValueError`` for an all-False mask, as :class:`core.backends.base.DepthCompleter` allows.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse.linalg import splu


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


def nearest_known_index(known: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every pixel, the (row, col) [H, W] int arrays of the closest known pixel (Euclidean)."""
    _, (rows, cols) = ndimage.distance_transform_edt(~known, return_indices=True)
    return rows, cols


def nearest_fill(depth: np.ndarray, known: np.ndarray) -> np.ndarray:
    """``depth`` with every unknown pixel set to its closest known pixel's depth; float32 [H, W]."""
    rows, cols = nearest_known_index(known)
    return depth[rows, cols].astype(np.float32)


def laplacian_fill(depth: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Harmonic interpolation of ``depth`` into ``~known``; float32 [H, W].

    Each unknown pixel equals the mean of its 4-neighbours inside the image (Neumann condition at the image
    border), known pixels are fixed. Every 4-connected unknown region touches a known pixel when any exists, so
    the sparse system is non-singular; a direct solve is exact and fast enough for benchmark-sized images.
    """
    H, W = depth.shape
    unknown = ~known
    n = int(unknown.sum())
    out = depth.astype(np.float64).copy()
    out[unknown] = 0.0
    if n == 0:
        return out.astype(np.float32)
    index = -np.ones((H, W), dtype=np.int64)
    index[unknown] = np.arange(n)
    rows_u, cols_u = np.nonzero(unknown)
    diag = np.zeros(n)
    rhs = np.zeros(n)
    ii: list[np.ndarray] = []
    jj: list[np.ndarray] = []
    for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        r, c = rows_u + dr, cols_u + dc
        inside = (r >= 0) & (r < H) & (c >= 0) & (c < W)
        diag += inside
        src = np.nonzero(inside)[0]
        nb_r, nb_c = r[inside], c[inside]
        nb_idx = index[nb_r, nb_c]
        is_unknown = nb_idx >= 0
        ii.append(src[is_unknown])
        jj.append(nb_idx[is_unknown])
        np.add.at(rhs, src[~is_unknown], out[nb_r[~is_unknown], nb_c[~is_unknown]])
    i = np.concatenate(ii)
    j = np.concatenate(jj)
    values = np.concatenate([diag, -np.ones(len(i))])
    coords = (np.concatenate([np.arange(n), i]), np.concatenate([np.arange(n), j]))
    A = sparse.csc_matrix((values, coords), shape=(n, n))
    # The matrix is symmetric: a minimum-degree ordering on A^T + A keeps the LU fill-in lowest (about 1 s for
    # 10^5 unknowns, against 1.4 s with the default COLAMD).
    out[unknown] = splu(A, permc_spec="MMD_AT_PLUS_A").solve(rhs)
    return out.astype(np.float32)


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


class BackgroundFill:
    """``DepthCompleter`` that fills the holes with the farthest nearby known depth (a max push-pull)."""

    name = "background"

    def __call__(self, image: np.ndarray, depth: np.ndarray, known_mask: np.ndarray) -> np.ndarray:
        return background_fill(depth, _check(image, depth, known_mask))


def _no_arg(kind: str, arg: str | None) -> None:
    if arg:
        raise ValueError(f"the {kind!r} depth completer takes no argument, got {arg!r}")


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
