"""Depth completion guided by the photo: classical fills that follow the image's edges.

The ``nearest`` and ``laplacian`` fills (:mod:`core.backends.classical_fill`) ignore the image, so a hole that
spans a foreground object and the wall behind it gets one smooth surface. Two classical answers use the photo:

* ``colorization`` -- the fill of the NYU Depth v2 toolbox (``fill_depth_colorization.m``), which is Levin,
  Lischinski and Weiss' colourisation by optimisation (SIGGRAPH 2004) applied to depth: every unknown pixel equals
  a weighted mean of its 3x3 neighbours, with weights ``exp(-(Y_r - Y_s)^2 / sigma_r)`` from the grey level ``Y``
  and ``sigma_r`` = 0.6 x the local grey variance (floored as the toolbox does). Depth then flows freely across
  flat image regions and hardly across image edges. One sparse solve.
* ``bilateral`` -- a joint-bilateral push-pull: known log depth is averaged down an image pyramid, and on the way
  back up every pixel without enough known depth takes a joint-bilateral interpolation of the coarser level (Kopf
  et al.'s joint bilateral upsampling: 3x3 coarse neighbours weighted by spatial distance and by the colour
  difference between the fine pixel and each coarse neighbour). Linear in the pixel count, pure torch on any
  device, and therefore also usable as the depth network's input prior (``fill_prior: bilateral``).

Both keep the known pixels exactly, need some known depth (``ValueError`` otherwise, as the protocol allows) and
are scale-equivariant: multiplying the known depth by ``k`` multiplies the fill by ``k``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import sparse
from scipy.sparse.linalg import splu

from core.backends.classical_fill import _check

GREY_WEIGHTS = np.array([0.2989, 0.5870, 0.1140])
"""rgb2gray's luma weights (MATLAB, as the NYU toolbox)."""

BILATERAL_SIGMA_RGB = 0.1
"""Colour difference (RGB in [0, 1], Euclidean) at which a coarse neighbour's weight falls to exp(-1/2)."""


def grey(image: np.ndarray) -> np.ndarray:
    """Grey level [H, W] float64 in [0, 1] of a uint8 RGB (or grey) image."""
    img = np.asarray(image, dtype=np.float64) / 255.0
    return img if img.ndim == 2 else img[..., :3] @ GREY_WEIGHTS


def colorization_weights(gray: np.ndarray, radius: int = 1) -> sparse.csr_matrix:
    """The row-stochastic affinity matrix W [HW, HW] of Levin's colourisation (NYU toolbox constants).

    Row ``r`` holds the neighbours ``s`` of pixel ``r`` in its (2 radius + 1)^2 window (itself excluded) with
    weights ``exp(-(Y_s - Y_r)^2 / c)``, normalised to sum 1, where ``c`` = 0.6 x the variance of the window
    (itself included), raised so that the most similar neighbour keeps weight >= 0.01, and at least 2e-6.
    """
    H, W = gray.shape
    offsets = [(dy, dx) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1) if dy or dx]
    pad = np.pad(gray, radius, mode="constant", constant_values=np.nan)
    nb = np.stack([pad[radius + dy : radius + dy + H, radius + dx : radius + dx + W] for dy, dx in offsets])
    inside = np.isfinite(nb)  # [K, H, W]
    window = np.concatenate([nb, gray[None]], axis=0)
    var = np.nanvar(window, axis=0)
    diff2 = np.where(inside, (nb - gray[None]) ** 2, np.inf)
    c = 0.6 * var
    min_gap = diff2.min(axis=0)
    c = np.maximum(c, -min_gap / np.log(0.01))
    c = np.maximum(c, 2e-6)
    w = np.where(inside, np.exp(-np.where(inside, diff2, 0.0) / c[None]), 0.0)
    w /= w.sum(axis=0, keepdims=True)
    rows_i, cols_i = np.indices((H, W))
    flat = (rows_i * W + cols_i).ravel()
    row_idx, col_idx, vals = [], [], []
    for k, (dy, dx) in enumerate(offsets):
        ok = inside[k].ravel()
        row_idx.append(flat[ok])
        col_idx.append(((rows_i + dy) * W + (cols_i + dx)).ravel()[ok])
        vals.append(w[k].ravel()[ok])
    return sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(row_idx), np.concatenate(col_idx))), shape=(H * W, H * W)
    )


def colorization_fill(
    image: np.ndarray, depth: np.ndarray, known: np.ndarray, *, log_depth: bool = False
) -> np.ndarray:
    """Levin colourisation of ``depth`` [H, W] into ``~known``, guided by ``image``; float32 [H, W].

    The toolbox solves ``(I - W + alpha G) x = alpha G d`` over all pixels with alpha = 1 (known pixels are soft
    constraints). Here known pixels are hard constraints (alpha -> infinity): the known depth is exact, as every
    completer in this project keeps it, and only the unknown pixels are unknowns of the system, which is smaller
    and better conditioned. ``log_depth`` fills log depth instead of metres.
    """
    H, W = depth.shape
    unknown = ~known
    values = np.log(np.where(known, depth, 1.0)) if log_depth else np.where(known, depth, 0.0).astype(np.float64)
    out = values.astype(np.float64).copy()
    n = int(unknown.sum())
    if n:
        Wm = colorization_weights(grey(image))
        u = np.flatnonzero(unknown.ravel())
        k = np.flatnonzero(known.ravel())
        Wu = Wm[u]
        A = sparse.identity(n, format="csc") - Wu[:, u].tocsc()
        rhs = Wu[:, k] @ values.ravel()[k]
        # Every unknown region touches a known pixel through positive weights (weights never vanish: c is
        # floored), so A is a non-singular M-matrix.
        out.ravel()[u] = splu(A.tocsc(), permc_spec="COLAMD").solve(rhs)
    if log_depth:
        out = np.exp(out)
    return np.where(known, depth, out).astype(np.float32)


# -------------------------------------------------------------------------------------- joint bilateral
def _avg_down(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 2, ceil_mode=True)


def _coarse_neighbours(coarse: torch.Tensor, H: int, W: int) -> torch.Tensor:
    """[B, C, h, w] -> [9, B, C, H, W]: for every fine pixel, the 3x3 coarse pixels around its parent."""
    padded = F.pad(coarse, (1, 1, 1, 1), mode="replicate")
    h, w = coarse.shape[-2:]
    out = []
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            shifted = padded[..., 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
            out.append(shifted.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)[..., :H, :W])
    return torch.stack(out)


def bilateral_fill(
    values: torch.Tensor, known: torch.Tensor, guide: torch.Tensor, *, sigma_rgb: float = BILATERAL_SIGMA_RGB
) -> torch.Tensor:
    """Fill the unknown pixels of ``values`` [B,1,H,W] by joint-bilateral push-pull guided by ``guide`` [B,3,H,W].

    Push: known-weighted averages of the values (and of the guide) halve the resolution down to one pixel. Pull:
    from the coarsest level up, each pixel's estimate from the coarser level is the average of the 3x3 coarse
    neighbours of its parent, weighted by their share of known data, a spatial Gaussian (sigma one coarse pixel,
    measured from the fine pixel's centre) and ``exp(-|guide_fine - guide_coarse|^2 / (2 sigma_rgb^2))``; it
    keeps its own average in proportion to how much known data it holds (as :func:`push_pull_fill`). Known
    pixels come back exactly; images with nothing known come back as 0. No gradient flows through it.
    """
    B, _, H, W = values.shape
    assert known.shape == values.shape and guide.shape == (B, 3, H, W), (
        f"values {tuple(values.shape)}, known {tuple(known.shape)}, guide {tuple(guide.shape)}"
    )
    with torch.no_grad():
        k = (known > 0.5).to(values.dtype)
        pyramid = [(values * k, k, guide)]
        while max(pyramid[-1][1].shape[-2:]) > 1:
            v, m, g = pyramid[-1]
            pyramid.append((_avg_down(v), _avg_down(m), _avg_down(g)))
        v, m, _ = pyramid[-1]
        filled = v / m.clamp_min(1e-12)
        conf = (m > 0).to(values.dtype)
        for level in range(len(pyramid) - 2, -1, -1):
            v, m, g = pyramid[level]
            _, _, gc = pyramid[level + 1]
            h, w = v.shape[-2:]
            cand = _coarse_neighbours(filled, h, w)  # [9, B, 1, h, w]
            cand_conf = _coarse_neighbours(conf, h, w)
            cand_g = _coarse_neighbours(gc, h, w)  # [9, B, 3, h, w]
            # Spatial weight: fine pixel centre (y + 0.5) / 2 in coarse units against coarse centre (Y + dy + 0.5).
            fy = ((torch.arange(h, device=v.device, dtype=v.dtype) % 2) - 0.5) / 2  # offset from parent centre
            fx = ((torch.arange(w, device=v.device, dtype=v.dtype) % 2) - 0.5) / 2
            spatial = []
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    d2 = (fy[:, None] - dy) ** 2 + (fx[None, :] - dx) ** 2
                    spatial.append(torch.exp(-d2 / 2))
            spatial_w = torch.stack(spatial)[:, None, None]  # [9, 1, 1, h, w]
            colour_d2 = (cand_g - g[None]).square().sum(dim=2, keepdim=True)
            wts = spatial_w * torch.exp(-colour_d2 / (2 * sigma_rgb**2)) * cand_conf + 1e-12 * spatial_w
            up = (wts * cand).sum(0) / wts.sum(0)
            own = v / m.clamp_min(1e-12)
            c = (4 * m).clamp(max=1.0) if level else m
            filled = c * own + (1 - c) * up
            conf = torch.maximum((m > 0).to(v.dtype), (wts * cand_conf).sum(0) / wts.sum(0))
        any_known = k.flatten(1).amax(dim=1)[:, None, None, None] > 0
        filled = torch.where(k > 0, values, filled)
        return torch.where(any_known, filled, torch.zeros_like(filled))


def bilateral_fill_depth(image: np.ndarray, depth: np.ndarray, known: np.ndarray) -> np.ndarray:
    """:func:`bilateral_fill` of log ``depth`` [H, W] guided by ``image`` uint8 [H, W, 3]; float32 metres."""
    logd = torch.from_numpy(np.log(np.where(known, depth, 1.0)).astype(np.float32))[None, None]
    mask = torch.from_numpy(known.astype(np.float32))[None, None]
    guide = torch.from_numpy(np.ascontiguousarray(image[..., :3])).permute(2, 0, 1)[None].float() / 255.0
    filled = bilateral_fill(logd, mask, guide)[0, 0].exp().numpy()
    return np.where(known, depth, filled).astype(np.float32)


# ----------------------------------------------------------------------------------------------- backends
class ColorizationFill:
    """``DepthCompleter``: the NYU toolbox's colourisation fill (Levin et al.), guided by the photo's grey level."""

    def __init__(self, *, log_depth: bool = False) -> None:
        self.log_depth = log_depth
        self.name = "colorization:log" if log_depth else "colorization"

    def __call__(self, image: np.ndarray, depth: np.ndarray, known_mask: np.ndarray) -> np.ndarray:
        known = _check(image, depth, known_mask)
        return colorization_fill(image, depth, known, log_depth=self.log_depth)


class BilateralFill:
    """``DepthCompleter``: joint-bilateral push-pull of log depth, guided by the photo's colours."""

    name = "bilateral"

    def __call__(self, image: np.ndarray, depth: np.ndarray, known_mask: np.ndarray) -> np.ndarray:
        known = _check(image, depth, known_mask)
        return bilateral_fill_depth(image, depth, known)


def build_colorization(arg: str | None = None, *, device: str = "cpu", **options: object) -> ColorizationFill:
    """Registry factory for ``colorization`` (metres, as the NYU toolbox) and ``colorization:log`` (log depth)."""
    if arg not in (None, "", "log"):
        raise ValueError(f"the 'colorization' depth completer takes no argument or 'log', got {arg!r}")
    return ColorizationFill(log_depth=arg == "log")


def build_bilateral(arg: str | None = None, *, device: str = "cpu", **options: object) -> BilateralFill:
    """Registry factory for spec ``bilateral`` (CPU; ``device`` is accepted and ignored)."""
    if arg:
        raise ValueError(f"the 'bilateral' depth completer takes no argument, got {arg!r}")
    return BilateralFill()
