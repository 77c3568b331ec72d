"""Z-buffered point splatting in plain torch (CPU and CUDA, same code).

Every point becomes a small disk of radius ``radius_px`` pixels in the target view; the nearest fragment of each
pixel wins. This is what the generation loop needs to find the holes a new camera sees (``mask`` False) and what
the self-training mask generator, the benchmark pair builder and the Gaussian stage use to re-render geometry.

Why this design: one ``scatter_reduce(amin)`` over a packed 64-bit key ``(float32 bits of z) << 32 | point id``
resolves the z-buffer in a single pass. Positive float32 values order like their bit patterns, so the smallest
key is the nearest point, ties go to the lowest point id, and the result is exact and deterministic on every
device (no atomics on floats, no sorting). Disks wider than one pixel are drawn by offset copies, only for the
points whose disk reaches a neighbouring pixel centre, and per offset only those whose radius reaches it, so a
cloud of mostly small points costs little more than one fragment per point. The offset loop never waits for the
device: what it needs is read back in one transfer before it (see ``_splat_into``).

``render_points_reference`` is a slow, obviously-correct version (per-pixel brute force) that tests compare with.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass

import torch

MAX_RADIUS_PX = 16.0
"""Splat radii are clamped to this many pixels so a point right in front of a camera cannot flood the frame."""

EMPTY = torch.iinfo(torch.int64).max
"""Z-buffer value of a pixel no point covers."""

DEFAULT_NEAR = 1e-3
"""Points closer than this (metres, camera z) are not drawn."""


@dataclass
class PointRender:
    """What a camera sees of a point cloud. Empty pixels: ``depth`` 0, ``mask`` False, ``index`` -1, image 0."""

    image: torch.Tensor  # [H, W, C], dtype of the colours
    depth: torch.Tensor  # [H, W] float32 camera z of the visible point, 0 = empty
    mask: torch.Tensor  # [H, W] bool, True where some point is visible
    index: torch.Tensor  # [H, W] int64 id of the visible point, -1 = empty


def splat_radius_px(points_world_size: torch.Tensor | float, z: torch.Tensor, focal_px: float) -> torch.Tensor:
    """Screen radius [N] of points whose world radius is ``points_world_size`` seen at camera depth ``z`` [N].

    A point lifted from a pixel at depth d by a camera of focal f covers about ``d / f`` metres; rendered at depth
    z by a camera of focal f' it spans ``(d / f) * f' / z`` pixels. Passing that per point keeps surfaces
    closed when the camera moves closer and thin when it moves away.
    """
    return torch.as_tensor(points_world_size, dtype=z.dtype, device=z.device) * focal_px / z.clamp_min(1e-8)


def _offset_plan(reach: int) -> list[tuple[int, int, float, float]]:
    """Offsets ``(dx, dy)`` around the centre pixel with the nearest and farthest distance of their pixel centre.

    The pixel centre at (dx, dy) lies between ``dmin`` and ``dmax`` from any point that rounds to the centre.
    """
    plan = []
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            if dx == 0 and dy == 0:
                continue
            dmin = math.hypot(max(abs(dx) - 0.5, 0.0), max(abs(dy) - 0.5, 0.0))
            dmax = math.hypot(abs(dx) + 0.5, abs(dy) + 0.5)
            plan.append((dx, dy, dmin, dmax))
    return plan


def _reach(radius: torch.Tensor | None) -> int:
    """Pixels beyond the centre that the widest disk can cover (one device read)."""
    if radius is None or radius.shape[0] == 0:
        return 0
    rmax = float(radius.max())
    return math.ceil(rmax + 0.5) if rmax >= 0.5 else 0  # a disk under 0.5 px never reaches a neighbour


@dataclass
class _ZBuffer:
    """Packed-key z-buffer padded by ``pad`` pixels on every side, plus one trash slot at the end."""

    keys: torch.Tensor  # [(H + 2 pad) * (W + 2 pad) + 1] int64
    pad: int
    height: int
    width: int

    @classmethod
    def new(cls, reach: int, height: int, width: int, device: torch.device) -> _ZBuffer:
        # Padded by twice the largest reach (centre pixel up to ``reach`` outside, plus an offset of ``reach``),
        # so no fragment needs a bounds check.
        pad = 2 * reach
        keys = torch.full(((width + 2 * pad) * (height + 2 * pad) + 1,), EMPTY, dtype=torch.int64, device=device)
        return cls(keys, pad, height, width)

    def cropped(self) -> torch.Tensor:
        """The image's pixels as [H*W] int64 (``EMPTY`` = no point)."""
        trash = self.keys.shape[0] - 1
        if self.pad == 0:
            return self.keys[:trash]
        pad, pw, ph = self.pad, self.width + 2 * self.pad, self.height + 2 * self.pad
        return self.keys[:trash].view(ph, pw)[pad : pad + self.height, pad : pad + self.width].reshape(-1)


def _splat_into(
    zbuf: _ZBuffer,
    key: torch.Tensor,  # [M] int64 packed (z bits, point id)
    u: torch.Tensor,  # [M] pixel x
    v: torch.Tensor,  # [M] pixel y
    radius: torch.Tensor | None,  # [M] pixels (clamped to MAX_RADIUS_PX), or None for one pixel per point
    reach: int,  # _reach(radius); 2 * reach <= zbuf.pad
    valid: torch.Tensor | None = None,  # [M] bool, False = not drawn (behind the camera)
) -> None:
    """Draw every point's disk into ``zbuf`` (scatter-min of packed keys).

    A pixel (x, y) is covered when its centre lies within ``radius`` of (u, v); the nearest pixel is always
    covered so that a point never falls between pixel centres. Why it is fast: nothing is compacted on the way
    to the centre pass (points that cannot touch the image go to a trash slot), so the common case is a few
    elementwise passes and one ``scatter_reduce``. Only points whose disk can reach a neighbouring pixel centre
    (radius at least the distance to the nearest neighbour) take part in the offset passes; they are selected
    once and sorted by radius, so each offset draws a prefix of them. Every prefix length is read back in one
    transfer before the loop: the loop itself never waits for the device.
    """
    device = key.device
    height, width, pad = zbuf.height, zbuf.width, zbuf.pad
    assert 2 * reach <= pad
    pw = width + 2 * pad
    trash = zbuf.keys.shape[0] - 1
    r = radius
    ui = torch.floor(u + 0.5)
    vi = torch.floor(v + 0.5)
    keep = (ui >= -reach) & (ui <= width - 1 + reach) & (vi >= -reach) & (vi <= height - 1 + reach)
    if valid is not None:
        keep &= valid
    # Centre pixel of each kept point: inside the image or in the padding (cropped away below); others to trash.
    lin = torch.where(keep, (vi + pad) * pw + (ui + pad), trash).long()
    zbuf.keys.scatter_reduce_(0, lin, key, reduce="amin")

    if reach > 0 and r is not None:
        fu = u - ui
        fv = v - vi
        # A neighbouring centre is at least 1 - max(|fu|, |fv|) away: only points reaching that far need offsets.
        spread = keep & (r >= 1.0 - torch.maximum(fu.abs(), fv.abs()))
        sel = torch.nonzero(spread).squeeze(1)  # one device read per render
        m = sel.numel()
        if m > 0:
            if m == r.shape[0]:  # every point spreads (wide splats): no gathers
                r_s, key_s, lin_s, fu_s, fv_s = r, key, lin, fu, fv
            else:
                r_s, key_s, lin_s, fu_s, fv_s = (x.index_select(0, sel) for x in (r, key, lin, fu, fv))
            plan = _offset_plan(reach)
            rmin, rmax_s = torch.stack([r_s.min(), r_s.max()]).tolist()  # one device read per render
            if reach > SORT_ABOVE_REACH and any(rmin < dmin <= rmax_s for _, _, dmin, _ in plan):
                # Radii straddle some offset's reach: sort by radius so each offset draws a prefix. Stable: a
                # constant radius keeps the original order, so the gathers stay sequential in memory.
                order = torch.sort(r_s, descending=True, stable=True).indices
                r_s, key_s, lin_s, fu_s, fv_s = (x.index_select(0, order) for x in (r_s, key_s, lin_s, fu_s, fv_s))
                dmins = torch.tensor([-p[2] for p in plan], device=device, dtype=r_s.dtype)
                counts_t = torch.searchsorted(-r_s, dmins, right=True)  # candidates reaching dmin: a prefix
                smallest = r_s[(counts_t - 1).clamp_min(0)]
                sure_t = smallest >= torch.tensor([p[3] for p in plan], device=device, dtype=r_s.dtype)
                counts, sure = counts_t.tolist(), sure_t.tolist()  # one device read per render
            else:  # few offsets, or each reached by all or by none: every candidate tries every offset in reach
                counts = [m if dmin <= rmax_s else 0 for _, _, dmin, _ in plan]  # the coverage test drops the rest
                sure = [rmin >= dmax for _, _, _, dmax in plan]
            # Coverage of offset (dx, dy): (dx - fu)^2 + (dy - fv)^2 <= r^2, i.e.
            # c - 2 dx fu - 2 dy fv <= -(dx^2 + dy^2) with c = fu^2 + fv^2 - r^2 computed once.
            c_s = fu_s * fu_s + fv_s * fv_s - r_s * r_s
            for (dx, dy, _, _), k, all_cover in zip(plan, counts, sure, strict=True):
                if k == 0:
                    continue
                pix = lin_s[:k] + (dy * pw + dx)
                if not all_cover:  # not every candidate surely covers it: test each, misses to the trash slot
                    miss = c_s[:k].add(fu_s[:k], alpha=-2 * dx).add_(fv_s[:k], alpha=-2 * dy).gt(-(dx * dx + dy * dy))
                    pix.masked_fill_(miss, trash)
                zbuf.keys.scatter_reduce_(0, pix, key_s[:k], reduce="amin")


def _camera_coords(
    points: torch.Tensor, world_to_cam: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Camera-space x, y, z [N] of world points [N, 3].

    Three matrix-vector products: a [N,3] x [3,3] matrix product is several times slower on the CPU (BLAS is
    poor at an inner size of 3), and the renderer wants the coordinates as separate rows anyway.
    """
    R, t = world_to_cam[:3, :3], world_to_cam[:3, 3]
    return tuple(torch.mv(points, R[i]).add_(t[i]) for i in range(3))  # type: ignore[return-value]


def _project(
    points: torch.Tensor, K: torch.Tensor, world_to_cam: torch.Tensor, near: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pixel position of every point: ``(front [N] bool, u [N], v [N], z [N])``; ``front`` = z beyond ``near``.

    Points behind the camera are not compacted away (that would cost a device read); their u, v are garbage
    and ``front`` says to ignore them.
    """
    x, y, z = _camera_coords(points, world_to_cam.to(points))
    K = K.to(points)
    front = z > near
    safe_z = torch.where(front, z, 1.0)
    u = (x * K[0, 0]).div_(safe_z).add_(K[0, 2])
    v = (y * K[1, 1]).div_(safe_z).add_(K[1, 2])
    return front, u, v, z


def _check_inputs(points: torch.Tensor, colors: torch.Tensor, K: torch.Tensor, world_to_cam: torch.Tensor) -> None:
    assert points.ndim == 2 and points.shape[1] == 3, f"points must be [N, 3], got {tuple(points.shape)}"
    assert colors.ndim == 2 and colors.shape[0] == points.shape[0], (
        f"colors must be [N, C] with N = {points.shape[0]}, got {tuple(colors.shape)}"
    )
    assert tuple(K.shape) == (3, 3), f"K must be [3, 3], got {tuple(K.shape)}"
    assert tuple(world_to_cam.shape) == (4, 4), f"world_to_cam must be [4, 4], got {tuple(world_to_cam.shape)}"


def _radius_for(radius_px: float | torch.Tensor | None, n_points: int, device: torch.device) -> torch.Tensor | None:
    if radius_px is None:
        return None
    if isinstance(radius_px, torch.Tensor) and radius_px.ndim > 0:
        assert radius_px.shape == (n_points,), f"radius_px must be a float or [N], got {tuple(radius_px.shape)}"
        return radius_px.to(device=device, dtype=torch.float32)
    return torch.full((n_points,), float(radius_px), device=device)


SORT_ABOVE_REACH = 2
"""Disks reaching at most this many pixels skip the sort by radius: with at most 24 offsets, testing every
candidate at every offset is cheaper than the sort and its five gathers (300k lifted points: ~1.3x faster)."""

CPU_CHUNK = 1 << 17
"""Points per pass on the CPU. Each pass makes ~20 temporaries of one word per point; at this size (0.5 MiB each)
they stay in the caches instead of streaming through memory: with 4M points the render takes ~95 ms instead of
~215 ms in one pass (``python -m benchmark.render_speed``, 1 thread). The z-buffer is a scatter-min over global
point ids, so the number and order of the passes do not change the picture (bit-identical)."""

RadiusOf = Callable[[torch.Tensor, int, int], torch.Tensor]
"""``radius_of(z, start, end)``: pixel radii [end - start] of points ``start:end`` seen at camera depths ``z``."""


def render_points(
    points: torch.Tensor,  # [N, 3] world
    colors: torch.Tensor,  # [N, C]
    K: torch.Tensor,  # [3, 3]
    world_to_cam: torch.Tensor,  # [4, 4]
    height: int,
    width: int,
    *,
    radius_px: float | torch.Tensor | None = None,  # None: one pixel per point; float or [N]: disk radius
    near: float = DEFAULT_NEAR,
) -> PointRender:
    """Render ``points`` with a z-buffer: every pixel shows its nearest covering point.

    ``radius_px`` is in pixels of the target view; to make it scale with depth and focal pass
    ``splat_radius_px(world_size, z, fx)`` (see :func:`render_points_world_size`). Runs on the device of
    ``points``; all inputs are moved there.
    """
    _check_inputs(points, colors, K, world_to_cam)
    radius = _radius_for(radius_px, points.shape[0], points.device)
    radius_of = None if radius is None else (lambda z, start, end: radius[start:end])
    return _render(points, colors, K, world_to_cam, height, width, radius_of, near)


def _render(
    points: torch.Tensor,
    colors: torch.Tensor,
    K: torch.Tensor,
    world_to_cam: torch.Tensor,
    height: int,
    width: int,
    radius_of: RadiusOf | None,
    near: float,
) -> PointRender:
    device = points.device
    points = points.float()
    K = K.to(device=device, dtype=torch.float32)
    world_to_cam = world_to_cam.to(device=device, dtype=torch.float32)
    colors = colors.to(device)
    n = points.shape[0]
    assert n < 2**31, "at most 2^31 - 1 points"

    chunk = CPU_CHUNK if device.type == "cpu" else max(n, 1)  # one pass on accelerators: no extra device reads
    zbuf = None
    for start in range(0, max(n, 1), chunk):
        end = min(n, start + chunk)
        front, u, v, z = _project(points[start:end], K, world_to_cam, near)
        radius = None if radius_of is None else radius_of(z, start, end).clamp(max=MAX_RADIUS_PX)
        reach = _reach(radius)
        if zbuf is None:  # one pass: padded for its own reach; several: for the widest disk there can be
            zbuf = _ZBuffer.new(reach if n <= chunk else _reach_limit(radius_of), height, width, device)
        # Packed key: high 32 bits = float32 bits of z (monotonic for z > 0), low = global point id.
        key = (z.view(torch.int32).long() << 32) | torch.arange(start, end, device=device)
        _splat_into(zbuf, key, u, v, radius, reach, valid=front)
    keys = zbuf.cropped()

    # Unpack without arithmetic: as two int32 words the low one is the id and the high one the float32 bits of z;
    # an empty pixel (EMPTY = 0x7FFFFFFF_FFFFFFFF) reads as id -1 and z NaN.
    words = keys.view(torch.int32).view(-1, 2)
    lo, hi = (0, 1) if sys.byteorder == "little" else (1, 0)
    index = words[:, lo].long()
    hit = index >= 0
    depth = torch.where(hit, words[:, hi].view(torch.float32), 0.0)
    if n > 0:  # gather then zero the empty pixels (index_select + multiply: much faster than fancy indexing)
        image = colors.index_select(0, index.clamp_min(0)).mul_(hit[:, None])
    else:
        image = colors.new_zeros((height * width, colors.shape[1]))
    return PointRender(
        image=image.view(height, width, -1),
        depth=depth.view(height, width),
        mask=hit.view(height, width),
        index=index.view(height, width),
    )


def _reach_limit(radius_of: RadiusOf | None) -> int:
    """The reach of the widest disk any point may have (radii are clamped to ``MAX_RADIUS_PX``)."""
    return 0 if radius_of is None else math.ceil(MAX_RADIUS_PX + 0.5)


def render_points_world_size(
    points: torch.Tensor,  # [N, 3]
    colors: torch.Tensor,  # [N, C]
    world_size: torch.Tensor | float,  # [N] or scalar, metres (radius of the surface patch a point stands for)
    K: torch.Tensor,
    world_to_cam: torch.Tensor,
    height: int,
    width: int,
    *,
    min_radius_px: float = 0.5,
    near: float = DEFAULT_NEAR,
) -> PointRender:
    """``render_points`` with each disk's pixel radius = world size x focal / depth (perspective splats)."""
    _check_inputs(points, colors, torch.as_tensor(K), torch.as_tensor(world_to_cam))
    K = torch.as_tensor(K, dtype=torch.float32, device=points.device)
    focal = float(K[0, 0])
    sizes = torch.as_tensor(world_size, dtype=torch.float32, device=points.device)
    if sizes.ndim > 0:
        assert sizes.shape == (points.shape[0],), f"world_size must be a float or [N], got {tuple(sizes.shape)}"

    def radius_of(z: torch.Tensor, start: int, end: int) -> torch.Tensor:
        part = sizes[start:end] if sizes.ndim > 0 else sizes
        return splat_radius_px(part, z, focal).clamp_min(min_radius_px)

    return _render(points, colors, K, torch.as_tensor(world_to_cam), height, width, radius_of, near)


def render_points_reference(
    points: torch.Tensor,
    colors: torch.Tensor,
    K: torch.Tensor,
    world_to_cam: torch.Tensor,
    height: int,
    width: int,
    *,
    radius_px: float | torch.Tensor | None = None,
    near: float = DEFAULT_NEAR,
) -> PointRender:
    """Brute-force twin of :func:`render_points` for tests: every pixel tests every point. Tiny inputs only."""
    _check_inputs(points, colors, K, world_to_cam)
    n = points.shape[0]
    front, u, v, z32 = _project(points.float(), K.float(), world_to_cam.float(), near)
    ids = torch.nonzero(front).squeeze(1)
    u, v, z32 = u[ids], v[ids], z32[ids]
    radius = _radius_for(radius_px, n, points.device)
    radius = radius[ids] if radius is not None else None
    ui = torch.floor(u + 0.5)
    vi = torch.floor(v + 0.5)
    image = torch.zeros((height, width, colors.shape[1]), dtype=colors.dtype)
    depth = torch.zeros((height, width), dtype=torch.float32)
    index = torch.full((height, width), -1, dtype=torch.int64)
    for y in range(height):
        for x in range(width):
            covered = (ui == x) & (vi == y)
            if radius is not None:
                r = radius.clamp(max=MAX_RADIUS_PX)
                covered |= (x - u) ** 2 + (y - v) ** 2 <= r**2
            cand = torch.nonzero(covered).squeeze(1)
            if cand.numel() == 0:
                continue
            # Nearest z wins, ties to the lowest id: lexicographic minimum over (z, id).
            best = min(cand.tolist(), key=lambda i: (float(z32[i]), int(ids[i])))
            index[y, x] = ids[best]
            depth[y, x] = z32[best]
            image[y, x] = colors[ids[best]]
    return PointRender(image=image, depth=depth, mask=index >= 0, index=index)
