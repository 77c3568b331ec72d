"""Closed-form colours for predicted splats: a few conjugate-gradient steps of linear least squares.

Why. Every rendered pixel is a blend of several splats: the rasteriser's anti-aliasing filter alone
(``EPS2D`` = 0.3 px^2) gives each splat a footprint of at least 0.55 px, so a splat of a neighbouring pixel
that lies in front covers a fifth of a pixel's colour. Splats that carry their own pixel's colour therefore render
a blurred photo: about 29 dB on the coffee photo's input view, however good the geometry, while the optimising
fit reaches 40 dB by choosing colours that undo the blur. With the geometry and opacities fixed, a render is
*linear* in the colours (``core.gaussians.rasterize.pair_weights``), so the colours that reproduce the views
best are a sparse linear least-squares problem; conjugate gradients on its normal equations, preconditioned by
their diagonal and started from the network's colours, gets most of the way in a handful of steps.

What is fitted: a view-independent colour change per splat (the SH DC term; higher SH terms are kept), against
the pixels a caller marks in each given view (the product gives only the input photo: the one observation of the
scene). A small damping towards the starting colours keeps splats that no marked pixel sees unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from core.camera import Camera
from core.errors import InputError
from core.gaussians.model import SH_C0, Gaussians
from core.gaussians.rasterize import pair_weights

DEFAULT_ITERS = 4
"""Conjugate-gradient steps. On the coffee photo's ``stage`` scene at 160 px the input view reads 36.3 / 38.8 /
40.4 / 41.5 / 42.4 / 42.7 dB after 1 / 2 / 3 / 4 / 6 / 8 steps; 4 is the first past the fit (40.1), and each step
costs less than building the pairs (docs/SPLATTER.md)."""
DEFAULT_DAMPING = 1e-2


@dataclass
class _ViewSystem:
    ids: torch.Tensor  # [K] splat of each pair
    pix: torch.Tensor  # [K] pixel of each pair (index into the view's marked pixels' residual)
    weight: torch.Tensor  # [K]
    n_pix: int


def _apply(weight: torch.Tensor, dst: torch.Tensor, n_dst: int, src: torch.Tensor,
           src_index: torch.Tensor | None) -> torch.Tensor:
    """``out[:, dst[k]] += weight[k] * src[:, src_index[k]]`` (``src_index`` None: ``src[:, k]``) on channel-major
    [3, *] tensors: one 1-D gather and index_add per channel, ~3x faster on the CPU than row-wise [K, 3] ones."""
    out = src.new_zeros(src.shape[0], n_dst)
    for c in range(src.shape[0]):
        vals = src[c] if src_index is None else src[c].index_select(0, src_index)
        out[c].index_add_(0, dst, weight * vals)
    return out


@torch.no_grad()
def solve_colors(
    g: Gaussians, cameras: Sequence[Camera], targets: Sequence[torch.Tensor],
    masks: Sequence[torch.Tensor | None] | None = None, *, iters: int = DEFAULT_ITERS,
    damping: float = DEFAULT_DAMPING,
) -> Gaussians:
    """``g`` with SH DC terms changed so that its renders match ``targets`` ([H, W, 3] in [0, 1], each at its
    camera's resolution, black background) on the pixels of ``masks`` ([H, W] bool, None = all) in the
    least-squares sense; ``iters`` = 0 returns ``g`` unchanged."""
    if len(cameras) != len(targets) or (masks is not None and len(masks) != len(cameras)):
        raise InputError(f"colour solve needs one target (and mask) per camera: {len(cameras)} cameras, "
                         f"{len(targets)} targets, {len(masks) if masks is not None else 0} masks")
    if iters <= 0 or len(g) == 0:
        return g
    dtype, dev = g.means.dtype, g.means.device
    n = len(g)
    systems, rhs = [], []
    for i, (cam, target) in enumerate(zip(cameras, targets, strict=True)):
        h, w = cam.intrinsics.height, cam.intrinsics.width
        if target.shape != (h, w, 3):
            raise InputError(f"target {i} has shape {tuple(target.shape)}, its camera is {h}x{w}")
        mask = None if masks is None or masks[i] is None else masks[i].to(device=dev, dtype=torch.bool)
        pw = pair_weights(g, cam, mask)
        # Residual of the current colours on the kept pixels: the target minus the render from the same pairs.
        ids, pix, weight = pw.ids, pw.pix, pw.weight
        residual = target.reshape(-1, 3).to(device=dev, dtype=dtype)
        if mask is not None:  # number the kept pixels 0..n-1
            marked = torch.nonzero(mask.reshape(-1)).squeeze(1)
            slot = torch.full((h * w,), -1, dtype=torch.long, device=dev)
            slot[marked] = torch.arange(len(marked), device=dev)
            pix, residual = slot.index_select(0, pix), residual.index_select(0, marked)
        residual = residual.T.contiguous() - _apply(weight, pix, len(residual), pw.colors.T.contiguous(), None)
        systems.append(_ViewSystem(ids, pix, weight, residual.shape[1]))
        rhs.append(residual)

    def normal(x: torch.Tensor) -> torch.Tensor:  # (sum_v W_v^T W_v + damping) x, channel-major [3, n]
        out = damping * x
        for s in systems:
            y = _apply(s.weight, s.pix, s.n_pix, x, s.ids)
            out += _apply(s.weight, s.ids, n, y, s.pix)
        return out

    b = torch.zeros(3, n, dtype=dtype, device=dev)
    diag = torch.full((n,), damping, dtype=dtype, device=dev)
    for s, r in zip(systems, rhs, strict=True):
        b += _apply(s.weight, s.ids, n, r, s.pix)
        diag.index_add_(0, s.ids, s.weight * s.weight)
    # Preconditioned CG on the colour change x (start 0), per channel (the channels are independent systems).
    x = torch.zeros(3, n, dtype=dtype, device=dev)
    r = b
    z = r / diag
    p = z.clone()
    rz = (r * z).sum(1, keepdim=True)
    for _ in range(iters):
        ap = normal(p)
        step = rz / (p * ap).sum(1, keepdim=True).clamp_min(1e-30)
        x += step * p
        r -= step * ap
        z = r / diag
        rz_new = (r * z).sum(1, keepdim=True)
        p = z + (rz_new / rz.clamp_min(1e-30)) * p
        rz = rz_new
    sh = g.sh.clone()
    sh[:, 0] += x.T / SH_C0
    return Gaussians(g.means, g.quats, g.log_scales, g.opacity_logits, sh)
