"""The masks of one generation step as torch tensors on any device: twins of :mod:`core.masks`.

Why: on a GPU the render -> mask -> complete -> lift loop can stay on the device; only the inpainter needs the
view on the host. Morphology is a convolution with the disk (exact for binary masks); nearest-pixel copies use
jump flooding (:func:`core.depthnet.model.nearest_known_coords`), which may pick another pixel among equidistant
ones; edge snapping uses max / min pooling with edge replication, as scipy's ``mode="nearest"`` filters do. The
CPU pipeline keeps :mod:`core.masks` (exact scipy); tests compare the two.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from core.masks import DEFAULT_EDGE_GRAZING_DEG, disk, edge_threshold


def _disk_kernel(radius: int, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(disk(radius)).to(device=device, dtype=torch.float32)[None, None]


def _dilate_padded(mask: torch.Tensor, radius: int, pad_value: float) -> torch.Tensor:
    """Dilation of ``mask`` [H, W] bool by a disk, pixels outside the image counting as ``pad_value``."""
    x = F.pad(mask.float()[None, None], (radius,) * 4, value=pad_value)
    return F.conv2d(x, _disk_kernel(radius, mask.device))[0, 0] > 0.5


def dilate_t(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Binary dilation by a disk (:func:`core.masks.dilate`)."""
    return mask.clone() if radius <= 0 else _dilate_padded(mask, radius, 0.0)


def erode_t(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Binary erosion by a disk, the border not eroding (:func:`core.masks.erode`)."""
    return mask.clone() if radius <= 0 else ~_dilate_padded(~mask, radius, 0.0)


def thin_cracks_t(coverage: torch.Tensor, radius: int = 1) -> torch.Tensor:
    """Uncovered pixels a closing of ``coverage`` by a disk fills (:func:`core.masks.thin_cracks`)."""
    if radius <= 0:
        return torch.zeros_like(coverage)
    pad = radius + 1
    padded = F.pad(coverage.float()[None, None], (pad,) * 4, mode="replicate")[0, 0] > 0.5
    closed = ~_dilate_padded(~_dilate_padded(padded, radius, 0.0), radius, 1.0)  # closing, outside = empty
    return closed[pad:-pad, pad:-pad] & ~coverage


def fill_from_nearest_t(values: torch.Tensor, known: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``values`` ([H, W] or [H, W, C]) with ``target`` pixels taking their nearest ``known`` pixel's value."""
    from core.depthnet.model import nearest_known_coords

    H, W = known.shape
    sy, sx, found = nearest_known_coords(known[None, None].float())
    src = (sy.clamp(0, H - 1) * W + sx.clamp(0, W - 1)).long().view(-1)
    flat = values.reshape(H * W, -1)
    filled = flat.index_select(0, src)
    take = (target & found[0, 0]).view(-1, 1)
    return torch.where(take, filled, flat).view(values.shape)


def snap_depth_edges_t(
    depth: torch.Tensor, focal_px: float, grazing_deg: float = DEFAULT_EDGE_GRAZING_DEG, radius: int = 3,
    iterations: int = 2,
) -> torch.Tensor:
    """Depth edges snapped to the nearer of the window's extremes (:func:`core.masks.snap_depth_edges`)."""
    valid = torch.isfinite(depth) & (depth > 0)
    out = torch.where(valid, depth, 0).float()
    logd = torch.log(torch.where(valid, out, 1.0))
    thr = 2 * radius * edge_threshold(focal_px, grazing_deg)
    size = 2 * radius + 1
    moved = torch.zeros_like(valid)
    inf = torch.tensor(float("inf"), device=depth.device)
    for _ in range(iterations):
        hi_in = F.pad(torch.where(valid, logd, -inf)[None, None], (radius,) * 4, mode="replicate")
        lo_in = F.pad(torch.where(valid, logd, inf)[None, None], (radius,) * 4, mode="replicate")
        hi = F.max_pool2d(hi_in, size, stride=1)[0, 0]
        lo = -F.max_pool2d(-lo_in, size, stride=1)[0, 0]
        zone = valid & ((hi - lo) > thr)
        logd = torch.where(zone, torch.where(hi - logd < logd - lo, hi, lo), logd)
        moved |= zone
    return torch.where(moved, torch.exp(logd), out)
