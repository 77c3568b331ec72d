"""Z-buffered point splatting in plain torch (CPU and CUDA, same code).

Every point becomes a small disk of radius ``radius_px`` pixels in the target view; the nearest fragment of each
pixel wins. This is what the generation loop needs to find the holes a new camera sees (``mask`` False) and what
the self-training mask generator, the benchmark pair builder and the Gaussian stage use to re-render geometry.

Why this design: one ``scatter_reduce(amin)`` over a packed 64-bit key ``(float32 bits of z) << 32 | point id``
resolves the z-buffer in a single pass. Positive float32 values order like their bit patterns, so the smallest
key is the nearest point, ties go to the lowest point id, and the result is exact and deterministic on every
device (no atomics on floats, no sorting). Disks wider than one pixel are drawn by offset copies, only for the
points whose disk reaches a neighbouring pixel centre, and per offset only those whose radius reaches it, so a
cloud of mostly small points costs little more than one fragment per point. On the CPU the hot loops avoid bool
masks (``where``, ``masked_fill`` and comparisons cost several times an arithmetic op there): off-screen points
are clamped into the padding, and a fragment that misses its pixel carries the key EMPTY, which leaves the
minimum alone. The offset passes never wait for the device: every count they need is read back before them
(see ``_splat_into``).

``render_points_reference`` is a slow, obviously-correct version (per-pixel brute force) that tests compare with.
"""

from __future__ import annotations

import functools
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
    """Packed-key z-buffer padded by ``pad`` pixels on every side (the padding is cropped away)."""

    keys: torch.Tensor  # [(H + 2 pad) * (W + 2 pad)] int64
    pad: int
    height: int
    width: int

    @classmethod
    def new(cls, reach: int, height: int, width: int, device: torch.device) -> _ZBuffer:
        # Padded by twice the largest reach plus one: a centre pixel up to ``reach`` outside the image plus an
        # offset of ``reach`` stays inside, so no fragment needs a bounds check, and the padded pixel
        # (reach, reach) is a parking slot whose every offset is padding too (see ``park``).
        pad = 2 * reach + 1
        keys = torch.full(((width + 2 * pad) * (height + 2 * pad),), EMPTY, dtype=torch.int64, device=device)
        return cls(keys, pad, height, width)

    @property
    def row(self) -> int:
        """Padded row length: the index step of one pixel down."""
        return self.width + 2 * self.pad

    def park(self, reach: int) -> int:
        """Where fragments that must not show go: padded pixel (reach, reach), whose offsets up to ``reach`` in
        any direction all stay in the padding. Parking instead of compacting keeps every pass a plain
        elementwise one."""
        assert 2 * reach < self.pad
        return reach * self.row + reach

    def cropped(self) -> torch.Tensor:
        """The image's pixels as an [H, W] int64 view (``EMPTY`` = no point)."""
        pad, pw = self.pad, self.row
        return self.keys.view(-1, pw)[pad : pad + self.height, pad : pad + self.width]


def _splat_into(
    zbuf: _ZBuffer,
    key: torch.Tensor,  # [M] int64 packed (z bits, point id)
    u: torch.Tensor,  # [M] pixel x
    v: torch.Tensor,  # [M] pixel y
    radius: torch.Tensor | None,  # [M] pixels (clamped to MAX_RADIUS_PX), or None for one pixel per point
    reach: int,  # _reach(radius); 2 * reach < zbuf.pad
) -> None:
    """Draw every point's disk into ``zbuf`` (scatter-min of packed keys).

    A pixel (x, y) is covered when its centre lies within ``radius`` of (u, v); the nearest pixel is always
    covered so that a point never falls between pixel centres. Why it is fast: nothing is compacted on the way
    to the centre pass (points that cannot touch the image are clamped into the padding), so the common case is
    a few elementwise passes and one ``scatter_reduce``. Only points whose disk can reach a neighbouring pixel
    centre (radius at least the distance to the nearest neighbour) take part in the offset passes, either
    gathered first (when the gathers cost less than the fragments they save) or given radius 0 in place. Disks
    under a pixel test only the three neighbours they lean towards; others reaching at most
    ``SORT_ABOVE_REACH`` pixels test all their offsets in one batched pass; wider ones are sorted by radius so
    each offset draws a prefix. Every count is read back before the offset passes: they never wait for the
    device.
    """
    height, width, pad = zbuf.height, zbuf.width, zbuf.pad
    pw = zbuf.row
    park = zbuf.park(reach)
    r = radius
    # Centre pixel of each point, clamped onto the ring just outside the drawable area (reach pixels around the
    # image), which lies in the padding: a point off-screen or behind the camera (infinite or NaN u, v) is drawn
    # there, and so are its offset copies, all cropped away. No bool masks: comparisons and ``where`` cost
    # several times a clamp on the CPU. The float index is exact below 2^24 pixels; larger buffers compute it in
    # float64.
    lo = -reach - 1.0
    uc = (u + 0.5).floor_().nan_to_num_(nan=lo).clamp_(lo, width + reach)
    vc = (v + 0.5).floor_().nan_to_num_(nan=lo).clamp_(lo, height + reach)
    lin = (torch.add(uc, vc, alpha=pw) if zbuf.keys.shape[0] < 2**24 else torch.add(uc.double(), vc.double(), alpha=pw))
    lin = lin.add_(pad * pw + pad).long()
    zbuf.keys.scatter_reduce_(0, lin, key, reduce="amin")
    if reach == 0 or r is None:
        return

    fu = u.sub_(uc)  # u and v are this pass's own temporaries
    fv = v.sub_(vc)
    # A neighbouring centre is at least 1 - max(|fu|, |fv|) away: only points reaching that far need offsets. A
    # point that was not clamped has |fu|, |fv| <= 1/2; a clamped one has max > 1/2 (or NaN), and the bound
    # max(1 - max, (max - 1/2) 2^40) keeps it out: its offsets would only draw into the padding.
    far = torch.maximum(fu.abs(), fv.abs())
    bound = torch.maximum(far.sub(0.5).mul_(2.0**40), far.neg_().add_(1.0))  # = 1 - max exactly when max <= 1/2
    spread = torch.le(bound, r)
    if reach > SORT_ABOVE_REACH:
        _draw_sorted_offsets(zbuf, key, lin, fu, fv, r, spread, reach, park)
        return
    n = key.shape[0]
    m = int(spread.sum())  # one device read per pass
    if m == 0:
        return
    plan = _offset_plan(reach)
    rmax = float(r.max())
    n_live = sum(dmin <= rmax for _, _, dmin, _ in plan)
    lin0 = lin.sub_(park)  # scatter index into views of the buffer shifted by each offset (see below)
    if _gather_first(n, m, n_live):  # few spread: gather them, and know their radius range
        sel = torch.nonzero(spread).squeeze(1)
        r, key, lin0, fu, fv = (x.index_select(0, sel) for x in (r, key, lin0, fu, fv))
        rmin, rmax = torch.stack([r.min(), r.max()]).tolist()  # one device read per pass
    else:  # most spread: no gathers; the others get radius 0, which covers no neighbour
        rmin = -math.inf
        r = r * spread
    live = [(dx, dy, rmin < dmax) for dx, dy, dmin, dmax in plan if dmin <= rmax]  # the test drops the rest
    keys = zbuf.keys
    if rmax < 1.0:  # disks under a pixel reach only the neighbours on the side they lean to
        lean = [(1, 0), (0, 1)] + ([(1, 1)] if any(dx and dy for dx, dy, _ in live) else [])
        _draw_lean_offsets(keys, park, lean, pw, key, lin0, fu, fv, r)
        return
    # Every fragment is scattered at ``lin - park`` into a view of the buffer shifted by its offset: no index
    # arithmetic per fragment (``lin >= park`` always, since parked points sit at ``park``).
    for dx, dy, _ in (o for o in live if not o[2]):  # every candidate surely covers it: no test
        keys[park + dy * pw + dx :].scatter_reduce_(0, lin0, key, reduce="amin")
    tested = [(dx, dy) for dx, dy, t in live if t]
    if tested:
        _draw_tested_offsets(keys, tested, [park + dy * pw + dx for dx, dy in tested], key, lin0, fu, fv, r)


def _draw_lean_offsets(
    keys: torch.Tensor,  # the z-buffer
    park: int,  # ``lin0`` counts from here
    lean: list[tuple[int, int]],  # (1, 0), (0, 1) and maybe (1, 1): offsets towards the side each point leans
    row: int,  # padded row length
    key: torch.Tensor,  # [m] packed keys
    lin0: torch.Tensor,  # [m] centre pixel relative to the parking slot
    fu: torch.Tensor,  # [m] offset of the point from its centre pixel
    fv: torch.Tensor,
    r: torch.Tensor,  # [m] radius, all under 1 pixel
) -> None:
    """Offsets of disks smaller than a pixel: a point at fu >= 0 is at least 1 from every centre at dx = -1 (and
    symmetrically), so only the neighbours on the side it leans to can be covered: (sign fu, 0), (0, sign fv)
    and the diagonal between them, three fragments instead of eight. The coverage test is the one of
    ``_draw_tested_offsets`` with |fu|, |fv| (-2 dx fu = -2 |fu| exactly), so the picture is the same."""
    ax, ay = fu.abs(), fv.abs()
    # Sign 0 (fu = 0) tests the centre itself, which then misses: no effect. Parked points (NaN) stay parked.
    step_x = torch.sign(fu).nan_to_num_(0.0).long().add_(park)
    step_y = torch.sign(fv).nan_to_num_(0.0).long().mul_(row)
    index = [lin0 + step_x, lin0 + park + step_y, (lin0 + step_x).add_(step_y)][: len(lean)]
    _draw_tested_offsets(keys, lean, [0] * len(lean), key, lin0, ax, ay, r, index=index)


@functools.lru_cache(maxsize=64)
def _test_columns(tested: tuple[tuple[int, int], ...], device: torch.device) -> tuple[torch.Tensor, ...]:
    """``(-2 dx, -2 dy, dx^2 + dy^2)`` of each offset as [L, 1] float32 columns (made once per offset set)."""
    cols = [[[-2.0 * dx] for dx, _ in tested], [[-2.0 * dy] for _, dy in tested],
            [[float(dx * dx + dy * dy)] for dx, dy in tested]]
    return tuple(torch.tensor(c, device=device) for c in cols)


def _draw_tested_offsets(
    keys: torch.Tensor,  # the z-buffer
    tested: list[tuple[int, int]],  # L offsets (dx, dy), |dx|, |dy| <= 2
    starts: list[int],  # where each offset's shifted view of ``keys`` starts
    key: torch.Tensor,  # [m] packed keys
    lin0: torch.Tensor,  # [m] index into the shifted views
    fu: torch.Tensor,  # [m] offset of the point from its centre pixel
    fv: torch.Tensor,
    r: torch.Tensor,  # [m] radius
    index: list[torch.Tensor] | None = None,  # per offset [m] index into ``keys`` instead of ``lin0`` + start
) -> None:
    """Coverage test and scatter of every point at every offset, all offsets at once as [L, part] tensors.

    Offset (dx, dy) is covered when (dx - fu)^2 + (dy - fv)^2 <= r^2, i.e. c - 2 dx fu - 2 dy fv <= -(dx^2 + dy^2)
    with c = fu^2 + fv^2 - r^2 (rounded in this order, as the sorted path does one offset at a time). -2 dx and
    -2 dy are 0, +-2 or +-4, so the products are exact and the sums round as they would there. Adding
    dx^2 + dy^2 afterwards keeps the sign of the comparison exactly, and a positive float32 is a positive int32,
    so the miss test is a clamp of the bits, and a miss turns the key into EMPTY, which leaves the minimum
    alone. No bool masks: ``where`` and ``masked_fill`` cost several ns per element on the CPU, these ops a few
    tenths. On the CPU the points go in parts so that the temporaries stay in the L2 cache.
    """
    device = key.device
    n_off, m = len(tested), key.shape[0]
    a, b, k = _test_columns(tuple(tested), device)
    c = fu * fu
    c += fv * fv
    c -= r * r
    part = min(m, OFFSET_PART) if device.type == "cpu" else m
    q_buf = torch.empty((n_off, part), device=device)
    src_buf = torch.empty((n_off, part), device=device, dtype=torch.int64)
    views = [keys[start:] for start in starts]
    for s in range(0, m, part):
        e = min(m, s + part)
        q, src = q_buf[:, : e - s], src_buf[:, : e - s]
        torch.addcmul(c[None, s:e], a, fu[None, s:e], out=q).addcmul_(b, fv[None, s:e]).add_(k)  # > 0: miss
        src.copy_(q.view(torch.int32).clamp_(0, 1))  # 1 where the float is positive
        src.mul_(EMPTY).bitwise_or_(key[None, s:e])
        for j, (view, row) in enumerate(zip(views, src, strict=True)):
            view.scatter_reduce_(0, lin0[s:e] if index is None else index[j][s:e], row, reduce="amin")


def _gather_first(n: int, m: int, n_offsets: int) -> bool:
    """Whether the ``m`` of ``n`` points that reach a neighbour are gathered before their ``n_offsets`` offsets
    (~8 ns per point to select, ~3 per selected one to gather) rather than all ``n`` running them (~6 ns per
    fragment); the constants are CPU timings of the ops involved."""
    return 8 * n + 3 * m < 6 * n_offsets * (n - m)


def _draw_sorted_offsets(
    zbuf: _ZBuffer,
    key: torch.Tensor,
    lin: torch.Tensor,
    fu: torch.Tensor,
    fv: torch.Tensor,
    r: torch.Tensor,
    spread: torch.Tensor,
    reach: int,
    park: int,
) -> None:
    """Offsets of disks reaching more than ``SORT_ABOVE_REACH`` pixels: one offset at a time over the spreading
    points, sorted by radius when the radii straddle some offset's reach, so that each offset draws a prefix."""
    device = key.device
    pw = zbuf.row
    sel = torch.nonzero(spread).squeeze(1)  # one device read per pass
    m = sel.numel()
    if m == 0:
        return
    if m == r.shape[0]:  # every point spreads (wide splats): no gathers
        r_s, key_s, lin_s, fu_s, fv_s = r, key, lin, fu, fv
    else:
        r_s, key_s, lin_s, fu_s, fv_s = (x.index_select(0, sel) for x in (r, key, lin, fu, fv))
    plan = _offset_plan(reach)
    rmin, rmax_s = torch.stack([r_s.min(), r_s.max()]).tolist()  # one device read per pass
    if any(rmin < dmin <= rmax_s for _, _, dmin, _ in plan):
        # Radii straddle some offset's reach: sort by radius so each offset draws a prefix. Stable: a constant
        # radius keeps the original order, so the gathers stay sequential in memory.
        order = torch.sort(r_s, descending=True, stable=True).indices
        r_s, key_s, lin_s, fu_s, fv_s = (x.index_select(0, order) for x in (r_s, key_s, lin_s, fu_s, fv_s))
        dmins = torch.tensor([-p[2] for p in plan], device=device, dtype=r_s.dtype)
        counts_t = torch.searchsorted(-r_s, dmins, right=True)  # candidates reaching dmin: a prefix
        smallest = r_s[(counts_t - 1).clamp_min(0)]
        sure_t = smallest >= torch.tensor([p[3] for p in plan], device=device, dtype=r_s.dtype)
        counts, sure = counts_t.tolist(), sure_t.tolist()  # one device read per pass
    else:  # each offset reached by all or by none
        counts = [m if dmin <= rmax_s else 0 for _, _, dmin, _ in plan]
        sure = [rmin >= dmax for _, _, _, dmax in plan]
    c_s = fu_s * fu_s + fv_s * fv_s - r_s * r_s  # see _splat_into for the coverage test
    for (dx, dy, _, _), k, all_cover in zip(plan, counts, sure, strict=True):
        if k == 0:
            continue
        pix = lin_s[:k] + (dy * pw + dx)
        if not all_cover:  # not every candidate surely covers it: test each, misses parked
            miss = c_s[:k].add(fu_s[:k], alpha=-2 * dx).add_(fv_s[:k], alpha=-2 * dy).gt(-(dx * dx + dy * dy))
            pix = torch.where(miss, park, pix)
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

    Points behind the camera are not compacted away (that would cost a device read); their u, v are infinite or
    NaN, which the renderer draws nowhere, and ``front`` says so.
    """
    x, y, z = _camera_coords(points, world_to_cam.to(points))
    K = K.to(points)
    front = z > near
    safe_z = torch.where(front, z, 0.0)  # the garbage is +-inf or NaN: it lands outside any image
    u = x.mul_(K[0, 0]).div_(safe_z).add_(K[0, 2])
    v = y.mul_(K[1, 1]).div_(safe_z).add_(K[1, 2])
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

OFFSET_PART = 1 << 15
"""Points per batched offset pass on the CPU: fewer calls (each costs microseconds) against cache-sized parts."""

ZERO_ROW_BELOW = 2
"""Clouds of up to this many points per pixel gather their colours from a copy behind a zero row (empty pixels,
id -1, read zeros); larger ones gather and then zero the empty pixels, which is cheaper than copying them."""

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
    ids = torch.arange(min(n, chunk), device=device)
    zbuf = None
    for start in range(0, max(n, 1), chunk):
        end = min(n, start + chunk)
        front, u, v, z = _project(points[start:end], K, world_to_cam, near)
        radius = None if radius_of is None else radius_of(z, start, end).clamp(max=MAX_RADIUS_PX)
        reach = _reach(radius)
        if zbuf is None:  # one pass: padded for its own reach; several: for the widest disk there can be
            zbuf = _ZBuffer.new(reach if n <= chunk else _reach_limit(radius_of), height, width, device)
        # Packed key: high 32 bits = float32 bits of z (monotonic for z > 0), low = global point id.
        key = z.view(torch.int32).long().bitwise_left_shift_(32).bitwise_or_(ids[: end - start])
        if start:
            key += start
        _splat_into(zbuf, key, u, v, radius, reach)
    words = zbuf.cropped().view(torch.int32).view(height, width, 2)  # [H, W] view, nothing copied

    # Unpack without arithmetic: as two int32 words the low one is the id and the high one the float32 bits of z;
    # an empty pixel (EMPTY = 0x7FFFFFFF_FFFFFFFF) reads as id -1 and z NaN.
    lo, hi = (0, 1) if sys.byteorder == "little" else (1, 0)
    ids32 = words[..., lo]
    index = ids32.long()
    hit = ids32 >= 0
    depth = torch.nan_to_num(words[..., hi].view(torch.float32), nan=0.0, posinf=math.inf, neginf=-math.inf)
    if n == 0:
        image = colors.new_zeros((height, width, colors.shape[1]))
    elif n <= ZERO_ROW_BELOW * height * width:  # gather from the colours behind a zero row: id -1 gets zeros
        image = torch.cat([colors.new_zeros((1, colors.shape[1])), colors]).index_select(0, (ids32 + 1).view(-1))
    else:  # a large cloud: gather, then zero the empty pixels (cheaper than copying the colours)
        image = colors.index_select(0, index.clamp_min(0).view(-1)).mul_(hit.view(-1, 1).to(colors.dtype))
    return PointRender(image=image.view(height, width, -1), depth=depth, mask=hit, index=index)


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
