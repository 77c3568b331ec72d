"""Planar extrapolation of depth into holes: each hole pixel continues the local plane of its nearest known pixel.

Why: the holes a turning camera opens are mostly strips beyond the old view's edge, and what lies there is usually
the continuation of the surface at the edge: a wall, a floor, a table top. The nearest and background fills
continue it at constant depth (a plane facing the camera) and the harmonic and image-guided fills smooth it out, so
all of them bend an oblique plane. Inverse depth of a plane is exactly affine in image coordinates
(``1/z = a u + b v + c``), so a least-squares plane of the known inverse depth around the edge, evaluated at the
hole pixel, continues it without bending.

How: weighted moments of the known pixels' inverse depth in a square window (:data:`RADIUS_FRACTION` of the long
side) give a plane at every known pixel (box sums by cumulative sums: O(H W) whatever the radius); every hole pixel
takes the plane of its nearest known pixel (:func:`core.depthnet.model.nearest_known_index`), anchored at that
pixel's own inverse depth, and is clamped within a factor :data:`MAX_RATIO` of it, so a steep or badly fitted plane
cannot run off to zero or negative inverse depth. Chosen on synthetic tuning pairs of seeds 1000 and 2000 (never the
reported ones, never Middlebury); see the depth model card. Pure torch, batched, on any device; inverse depth is
fitted linearly and the clamp is relative, so scaling the known depth by k scales the fill by exactly k.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

RADIUS_FRACTION = 0.04
"""Half-width of the fitting window as a fraction of the image's long side (10 px at 256). On the seed-1000 and
seed-2000 synthetic tuning pairs (192 x 256) 0.02-0.06 score alike and larger windows worse (they straddle more
depth edges); the middle of the flat range keeps some averaging for noisier real depth."""
MAX_RATIO = 2.0
"""A hole pixel's depth stays within this factor of its source pixel's (tuned among 1.5, 2, 2.5, 3 and 4)."""
_SLOPE_RIDGE = 1e-6
"""Ridge on the slopes (coordinates are in units of the long side), so a window with one row or column of known
pixels, or a single pixel, gives a flat plane instead of a singular system. Small against a window's coordinate
variance (about 5e-4 at the default radius), so full windows fit planes without bias; 1e-4 shrank slopes by ~5%
and cost 7-10% hole AbsRel on the tuning pairs."""


def _box_sum(x: torch.Tensor, r: int) -> torch.Tensor:
    """Sum of ``x`` [B,C,H,W] over the (2r+1)^2 window around every pixel, zero outside the image."""
    for dim in (-2, -1):
        x = x.movedim(dim, -1)
        n = x.shape[-1]
        c = F.pad(x.cumsum(-1), (1, 0))  # c[i] = sum of x[:i], i = 0..n
        # e[j] = c[clamp(j - r, 0, n)], so the window sum at i is e[i + 2r + 1] - e[i]
        e = torch.cat([c[..., :1].expand(*c.shape[:-1], r), c, c[..., -1:].expand(*c.shape[:-1], r)], -1)
        x = (e[..., 2 * r + 1 :] - e[..., :n]).movedim(-1, dim)
    return x


def plane_fill(values: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Fill the unknown pixels of ``values`` [B,1,H,W] (log depth, any offset) by continuing the local plane of the
    nearest known pixel (``known``: {0,1} or bool, same shape). Known pixels come back exactly; images with nothing
    known come back as 0."""
    from core.depthnet.model import nearest_known_index

    B, _, H, W = values.shape
    k = (known > 0.5) if known.dtype.is_floating_point else known.bool()
    v = values.detach().double()
    # inverse depth relative to each image's nearest known depth: in (0, 1], whatever the offset of ``values``
    near = torch.where(k, v, torch.full_like(v, torch.inf)).flatten(1).amin(1).clamp_max(1e30)[:, None, None, None]
    disp = torch.where(k, (v - near).clamp(max=80.0).neg().exp(), torch.zeros_like(v))
    w = k.double()
    side = float(max(H, W))
    y = torch.arange(H, device=v.device, dtype=v.dtype).view(1, 1, H, 1).expand(B, 1, H, W) / side
    x = torch.arange(W, device=v.device, dtype=v.dtype).view(1, 1, 1, W).expand(B, 1, H, W) / side
    r = max(1, round(RADIUS_FRACTION * side))
    # moments about each window's centre pixel keep the 3x3 systems well conditioned
    m = _box_sum(torch.cat([w, w * x, w * y, w * x * x, w * x * y, w * y * y, w * disp, w * x * disp,
                            w * y * disp], 1), r)
    s, sx, sy, sxx, sxy, syy, sd, sxd, syd = m.unbind(1)
    cx, cy = x[:, 0], y[:, 0]
    sx_c, sy_c = sx - cx * s, sy - cy * s
    sxx_c = sxx - 2 * cx * sx + cx * cx * s
    syy_c = syy - 2 * cy * sy + cy * cy * s
    sxy_c = sxy - cx * sy - cy * sx + cx * cy * s
    sxd_c, syd_c = sxd - cx * sd, syd - cy * sd
    ridge = _SLOPE_RIDGE * s
    a_mat = torch.stack([torch.stack([sxx_c + ridge, sxy_c, sx_c], -1),
                         torch.stack([sxy_c, syy_c + ridge, sy_c], -1),
                         torch.stack([sx_c, sy_c, s], -1)], -2)
    rhs = torch.stack([sxd_c, syd_c, sd], -1)
    idx, found = nearest_known_index(k)
    sy_idx, sx_idx = (idx // W).view(B, 1, H, W).to(v.dtype), (idx % W).view(B, 1, H, W).to(v.dtype)
    # only the pixels some pixel takes its plane from (the known pixels at the holes' edges) need a solve
    flat = (idx + torch.arange(B, device=v.device)[:, None] * (H * W)).flatten()
    sources, which = torch.unique(flat, return_inverse=True)
    eye = torch.eye(3, device=v.device, dtype=v.dtype)
    sol = torch.linalg.solve(a_mat.reshape(-1, 3, 3)[sources] + 1e-12 * eye, rhs.reshape(-1, 3)[sources])
    slope_x, slope_y = (sol[which, i].view(B, 1, H, W) for i in (0, 1))  # the third unknown: the centre's value
    d0 = disp.reshape(B, -1).gather(1, idx).view(B, 1, H, W)
    pred = d0 + slope_x * (x - sx_idx / side) + slope_y * (y - sy_idx / side)
    pred = torch.minimum(torch.maximum(pred, d0 / MAX_RATIO), d0 * MAX_RATIO)
    filled = near - pred.clamp_min(1e-300).log()
    out = torch.where(k, v, torch.where(found, filled, torch.zeros_like(v)))
    return out.to(values.dtype)
