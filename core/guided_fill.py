"""Image-guided depth fills on arrays: Levin colourisation (the NYU toolbox's fill) and joint-bilateral filling.

Why a module of its own (as :mod:`core.fill` for the image-blind fills): the registry backends
(:mod:`core.backends.guided_fill`, which explains the methods) and the network's fill priors
(:mod:`core.depthnet.model`) both need them, and neither may import the other.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import sparse

from core.grid_solve import solve_on_grid

GREY_WEIGHTS = np.array([0.2989, 0.5870, 0.1140])
"""rgb2gray's luma weights (MATLAB, as the NYU toolbox)."""

BILATERAL_SIGMA_RGB = 0.1
"""Colour difference (RGB in [0, 1], Euclidean) at which a neighbour's weight falls to exp(-1/2)."""
BILATERAL_RADIUS = 3
"""Window radius (pixels) of one joint-bilateral fill round."""


def grey(image: np.ndarray) -> np.ndarray:
    """Grey level [H, W] float64 in [0, 1] of a uint8 RGB (or grey) image."""
    img = np.asarray(image, dtype=np.float64) / 255.0
    return img if img.ndim == 2 else img[..., :3] @ GREY_WEIGHTS


def colorization_weights(gray: np.ndarray, radius: int = 1, rows: np.ndarray | None = None) -> sparse.csr_matrix:
    """The row-stochastic affinity matrix W [HW, HW] of Levin's colourisation (NYU toolbox constants).

    Row ``r`` holds the neighbours ``s`` of pixel ``r`` in its (2 radius + 1)^2 window (itself excluded) with
    weights ``exp(-(Y_s - Y_r)^2 / c)``, normalised to sum 1, where ``c`` = 0.6 x the variance of the window
    (itself included), raised so that the most similar neighbour keeps weight >= 0.01, and at least 2e-6.
    ``rows`` (flat pixel indices) builds only those rows, [len(rows), HW]: the fill needs the unknown pixels' rows
    alone, a fraction of the image.
    """
    H, W = gray.shape
    flat = np.arange(H * W) if rows is None else np.asarray(rows, dtype=np.int64)
    ys, xs = np.divmod(flat, W)
    offsets = [(dy, dx) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1) if dy or dx]
    pad = np.pad(gray, radius, mode="constant", constant_values=np.nan)
    centre = gray[ys, xs]
    nb = np.stack([pad[ys + radius + dy, xs + radius + dx] for dy, dx in offsets])  # [K, n]
    inside = np.isfinite(nb)
    var = np.nanvar(np.concatenate([nb, centre[None]], axis=0), axis=0)
    diff2 = np.where(inside, (nb - centre[None]) ** 2, np.inf)
    c = np.maximum(np.maximum(0.6 * var, -diff2.min(axis=0) / np.log(0.01)), 2e-6)
    w = np.where(inside, np.exp(-np.where(inside, diff2, 0.0) / c[None]), 0.0)
    w /= w.sum(axis=0, keepdims=True)
    row_idx, col_idx, vals = [], [], []
    local = np.arange(len(flat))
    for k, (dy, dx) in enumerate(offsets):
        ok = inside[k]
        row_idx.append(local[ok])
        col_idx.append(((ys + dy) * W + (xs + dx))[ok])
        vals.append(w[k][ok])
    return sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(row_idx), np.concatenate(col_idx))), shape=(len(flat), H * W)
    )


def colorization_system(
    image: np.ndarray, values: np.ndarray, known: np.ndarray
) -> tuple[np.ndarray, sparse.csc_matrix, np.ndarray]:
    """The hard-constraint colourisation system of :func:`colorization_fill`: ``(u, A, rhs)`` with ``u`` the
    unknown pixels' flat indices and ``A x = rhs`` their values, given ``values`` [H, W] on the known pixels.

    Every unknown region touches a known pixel through positive weights (weights never vanish: c is floored), so
    ``A`` is a non-singular M-matrix.
    """
    u = np.flatnonzero(~known.ravel())
    k = np.flatnonzero(known.ravel())
    Wu = colorization_weights(grey(image), rows=u)
    A = (sparse.identity(len(u), format="csc") - Wu[:, u].tocsc()).tocsc()
    return u, A, Wu[:, k] @ np.asarray(values, dtype=np.float64).ravel()[k]


def colorization_fill(
    image: np.ndarray, depth: np.ndarray, known: np.ndarray, *, log_depth: bool = False
) -> np.ndarray:
    """Levin colourisation of ``depth`` [H, W] into ``~known``, guided by ``image``; float32 [H, W].

    The toolbox solves ``(I - W + alpha G) x = alpha G d`` over all pixels with alpha = 1 (known pixels are soft
    constraints). Here known pixels are hard constraints (alpha -> infinity): the known depth is exact, as every
    completer in this project keeps it, and only the unknown pixels are unknowns of the system, which is smaller
    and better conditioned. ``log_depth`` fills log depth instead of metres.
    """
    W = depth.shape[1]
    values = np.log(np.where(known, depth, 1.0)) if log_depth else np.where(known, depth, 0.0).astype(np.float64)
    out = values.astype(np.float64).copy()
    if not known.all():
        u, A, rhs = colorization_system(image, values, known)
        out.ravel()[u] = solve_on_grid(A, rhs, *np.divmod(u, W))
    if log_depth:
        out = np.exp(out)
    return np.where(known, depth, out).astype(np.float32)


# -------------------------------------------------------------------------------------- joint bilateral
def _shift(x: torch.Tensor, dy: int, dx: int, r: int) -> torch.Tensor:
    """``x`` [B,C,H+2r,W+2r] (padded by ``r``) -> the [B,C,H,W] view whose pixel (y, x) is (y + dy, x + dx)."""
    H, W = x.shape[-2] - 2 * r, x.shape[-1] - 2 * r
    return x[..., r + dy : r + dy + H, r + dx : r + dx + W]


def bilateral_fill(
    values: torch.Tensor,
    known: torch.Tensor,
    guide: torch.Tensor,
    *,
    radius: int = BILATERAL_RADIUS,
    sigma_rgb: float = BILATERAL_SIGMA_RGB,
) -> torch.Tensor:
    """Fill the unknown pixels of ``values`` [B,1,H,W] by joint-bilateral onion peeling guided by ``guide`` [B,3,H,W].

    Every round, each unfilled pixel with filled pixels within ``radius`` takes their average weighted by a
    spatial Gaussian (sigma = radius / 2) and ``exp(-|guide_p - guide_q|^2 / (2 sigma_rgb^2))``, and counts as
    filled from then on; rounds repeat until nothing is left (about hole width / radius rounds). At the border of
    a hole the colour weights decide which side's depth a pixel continues -- the foreground's where it looks like
    the foreground, the background's where it looks like the background. Known pixels come back exactly; images
    with nothing known come back as 0. No gradient flows through it.
    """
    B, _, H, W = values.shape
    assert known.shape == values.shape and guide.shape == (B, 3, H, W), (
        f"values {tuple(values.shape)}, known {tuple(known.shape)}, guide {tuple(guide.shape)}"
    )
    r = int(radius)
    offsets = [(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1)
               if (dy or dx) and dy * dy + dx * dx <= r * r]
    spatial = [float(np.exp(-(dy * dy + dx * dx) / (2 * (r / 2) ** 2))) for dy, dx in offsets]
    with torch.no_grad():
        filled = (known > 0.5).to(values.dtype)
        out = values * filled
        gpad = F.pad(guide, (r, r, r, r), mode="replicate")
        # Floored so that a pixel unlike all of its filled neighbours still averages them (by distance alone)
        # instead of dividing by an underflowed zero.
        colour_w = [torch.exp(-(_shift(gpad, dy, dx, r) - guide).square().sum(1, keepdim=True) / (2 * sigma_rgb**2))
                    .clamp_min(1e-12) for dy, dx in offsets]
        any_known = filled.flatten(1).amax(dim=1)[:, None, None, None] > 0
        todo = (filled < 0.5) & any_known
        while bool(todo.any()):
            # Each round only touches the bounding box of the pixels still to fill (plus the r-pixel ring their
            # neighbours live in): the same arithmetic, 3-5x less of it for the strips a turning camera opens.
            ys = todo.any(dim=3).any(dim=1).any(dim=0).nonzero()  # rows with a pixel to fill, over the batch
            xs = todo.any(dim=2).any(dim=1).any(dim=0).nonzero()
            y0, y1, x0, x1 = int(ys[0]), int(ys[-1]) + 1, int(xs[0]), int(xs[-1]) + 1
            cy0, cy1, cx0, cx1 = max(0, y0 - r), min(H, y1 + r), max(0, x0 - r), min(W, x1 + r)
            box = (..., slice(y0, y1), slice(x0, x1))
            pads = (r - (x0 - cx0), r - (cx1 - x1), r - (y0 - cy0), r - (cy1 - y1))
            vpad = F.pad(out[..., cy0:cy1, cx0:cx1], pads)
            fpad = F.pad(filled[..., cy0:cy1, cx0:cx1], pads)
            num = torch.zeros_like(out[box])
            den = torch.zeros_like(num)
            near = torch.zeros_like(todo[box])
            for (dy, dx), ws, wc in zip(offsets, spatial, colour_w, strict=True):
                f = _shift(fpad, dy, dx, r)
                w = ws * wc[box] * f
                num += w * _shift(vpad, dy, dx, r)
                den += w
                near |= f > 0.5
            reach = todo[box] & near
            out[box] = torch.where(reach, num / den.clamp_min(1e-30), out[box])
            filled[box] = torch.where(reach, torch.ones_like(num), filled[box])
            todo[box] = todo[box] & ~reach
        return torch.where(known > 0.5, values, out)


def bilateral_fill_depth(image: np.ndarray, depth: np.ndarray, known: np.ndarray) -> np.ndarray:
    """:func:`bilateral_fill` of log ``depth`` [H, W] guided by ``image`` uint8 [H, W, 3]; float32 metres."""
    logd = torch.from_numpy(np.log(np.where(known, depth, 1.0)).astype(np.float32))[None, None]
    mask = torch.from_numpy(known.astype(np.float32))[None, None]
    guide = torch.from_numpy(np.ascontiguousarray(image[..., :3])).permute(2, 0, 1)[None].float() / 255.0
    filled = bilateral_fill(logd, mask, guide)[0, 0].exp().numpy()
    return np.where(known, depth, filled).astype(np.float32)
