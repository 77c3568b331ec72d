"""Analytic ray casting against the few primitive kinds a procedural scene needs, batched in torch.

Rays are ``origin + t * direction`` with directions that are *not* normalised: the camera builds them as
``R @ ((u - cx) / fx, (v - cy) / fy, 1)``, so the ray parameter ``t`` of the first hit is the camera z-depth
directly and the Euclidean distance is ``t * |direction|``. Every intersection routine therefore solves its
equation for a general direction (quadratics keep their ``a`` term).

Each routine returns ``t`` [P, N] for P primitives and N rays, ``inf`` where a ray misses (elementwise kernels
``box_t`` / ``cylinder_t`` / ``sphere_t`` broadcast instead). :func:`first_hit` tests every ray against every
primitive: it is the reference that the culled caster in :mod:`training.synth.raycast` must match. Primitives:

* planes ``n . x = d`` (infinite; a convex room seen from inside is six of them),
* boxes with a yaw about the vertical (world y) axis, by the slab method in the box frame,
* vertical cylinders (axis parallel to y) with both caps,
* spheres.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

EPS_T = 1e-4
"""Smallest accepted ray parameter: hits closer than this count as self-intersections (shadow rays)."""

_INF = float("inf")


def _yaw_rotation(yaw: torch.Tensor) -> torch.Tensor:
    """World-from-local rotations [P, 3, 3] for yaw angles [P] (radians) about the y axis."""
    c, s = torch.cos(yaw), torch.sin(yaw)
    z, o = torch.zeros_like(yaw), torch.ones_like(yaw)
    return torch.stack([torch.stack([c, z, s], -1), torch.stack([z, o, z], -1), torch.stack([-s, z, c], -1)], -2)


@dataclass
class Primitives:
    """All primitives of a scene as flat tensors (float32, CPU or any device).

    Material ids index the scene's texture atlas. The id of a primitive across kinds is its position in the
    concatenation planes, boxes, cylinders, spheres (see :meth:`offsets`).
    """

    plane_normal: torch.Tensor = field(default_factory=lambda: torch.zeros(0, 3))  # [Pp, 3] unit
    plane_offset: torch.Tensor = field(default_factory=lambda: torch.zeros(0))  # [Pp]
    plane_material: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.long))  # [Pp]
    box_center: torch.Tensor = field(default_factory=lambda: torch.zeros(0, 3))  # [Pb, 3]
    box_half: torch.Tensor = field(default_factory=lambda: torch.zeros(0, 3))  # [Pb, 3] half extents (local)
    box_yaw: torch.Tensor = field(default_factory=lambda: torch.zeros(0))  # [Pb] radians about y
    box_material: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.long))
    cyl_center: torch.Tensor = field(default_factory=lambda: torch.zeros(0, 2))  # [Pc, 2] (x, z) of the axis
    cyl_radius: torch.Tensor = field(default_factory=lambda: torch.zeros(0))  # [Pc]
    cyl_y: torch.Tensor = field(default_factory=lambda: torch.zeros(0, 2))  # [Pc, 2] (y_min, y_max)
    cyl_material: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.long))
    sphere_center: torch.Tensor = field(default_factory=lambda: torch.zeros(0, 3))  # [Ps, 3]
    sphere_radius: torch.Tensor = field(default_factory=lambda: torch.zeros(0))  # [Ps]
    sphere_material: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.long))

    @property
    def box_rotation(self) -> torch.Tensor:
        """World-from-box rotations [Pb, 3, 3]."""
        return _yaw_rotation(self.box_yaw)

    def offsets(self) -> tuple[int, int, int, int, int]:
        """Start index of each kind in the global primitive numbering, plus the total count."""
        p = self.plane_normal.shape[0]
        b = p + self.box_center.shape[0]
        c = b + self.cyl_center.shape[0]
        s = c + self.sphere_center.shape[0]
        return 0, p, b, c, s

    def materials(self) -> torch.Tensor:
        """Material id [P] of every primitive in global numbering."""
        return torch.cat([self.plane_material, self.box_material, self.cyl_material, self.sphere_material])

    def to(self, device: torch.device | str) -> Primitives:
        return Primitives(**{k: v.to(device) for k, v in self.__dict__.items()})


def intersect_planes(o: torch.Tensor, d: torch.Tensor, normal: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """o, d: [N, 3]; normal [P, 3], offset [P] -> t [P, N]."""
    # Written as sums of products: a matrix product with an inner size of 3 is slower on CPU.
    nd = normal[:, 0:1] * d[:, 0] + normal[:, 1:2] * d[:, 1] + normal[:, 2:3] * d[:, 2]  # [P, N]
    no = normal[:, 0:1] * o[:, 0] + normal[:, 1:2] * o[:, 1] + normal[:, 2:3] * o[:, 2]  # [P, N] or [P, 1]
    safe = torch.where(nd.abs() < 1e-12, torch.full_like(nd, 1e-12), nd)
    t = (offset[:, None] - no) / safe
    return torch.where((t > EPS_T) & (nd.abs() >= 1e-12), t, _INF)


def box_t(
    o: torch.Tensor, d: torch.Tensor, center: torch.Tensor, half: torch.Tensor, yaw: torch.Tensor
) -> torch.Tensor:
    """Ray parameter of the first hit of boxes turned by ``yaw`` about y (slab method in the box frame); inf on a
    miss; a ray starting inside hits the exit face. Elementwise with broadcasting: o, d, center, half [..., 3],
    yaw [...]; returns [...]."""
    c, s = torch.cos(yaw), torch.sin(yaw)
    rel = o - center
    dx, dy, dz = d[..., 0], d[..., 1], d[..., 2]
    ol = (c * rel[..., 0] - s * rel[..., 2], rel[..., 1], s * rel[..., 0] + c * rel[..., 2])
    dl = (c * dx - s * dz, dy, s * dx + c * dz)
    tnear = tfar = None
    for k in range(3):
        dk = dl[k]
        inv = 1.0 / torch.where(dk.abs() < 1e-12, torch.full_like(dk, 1e-12), dk)
        t1 = (-half[..., k] - ol[k]) * inv
        t2 = (half[..., k] - ol[k]) * inv
        lo, hi = torch.minimum(t1, t2), torch.maximum(t1, t2)
        tnear = lo if tnear is None else torch.maximum(tnear, lo)
        tfar = hi if tfar is None else torch.minimum(tfar, hi)
    t = torch.where(tnear > EPS_T, tnear, tfar)
    return torch.where((tfar >= tnear) & (t > EPS_T), t, _INF)


def cylinder_t(
    o: torch.Tensor, d: torch.Tensor, center_xz: torch.Tensor, radius: torch.Tensor, y_range: torch.Tensor
) -> torch.Tensor:
    """First hit of vertical capped cylinders (side or caps). Elementwise: o, d [..., 3], center_xz and y_range
    [..., 2], radius [...]; returns [...]."""
    ox = o[..., 0] - center_xz[..., 0]
    oz = o[..., 2] - center_xz[..., 1]
    oy = o[..., 1]
    dx, dy, dz = d[..., 0], d[..., 1], d[..., 2]
    r2 = radius**2
    y0, y1 = y_range[..., 0], y_range[..., 1]
    a = dx * dx + dz * dz
    b = 2 * (ox * dx + oz * dz)
    c = ox * ox + oz * oz - r2
    disc = b * b - 4 * a * c
    sq = torch.sqrt(disc.clamp_min(0))
    a_safe = torch.where(a < 1e-12, torch.full_like(a, 1e-12), a)
    best = None
    for t_side in ((-b - sq) / (2 * a_safe), (-b + sq) / (2 * a_safe)):
        y = oy + t_side * dy
        ok = (disc >= 0) & (a >= 1e-12) & (t_side > EPS_T) & (y >= y0) & (y <= y1)
        cand = torch.where(ok, t_side, _INF)
        best = cand if best is None else torch.minimum(best, cand)
    dy_safe = torch.where(dy.abs() < 1e-12, torch.full_like(dy, 1e-12), dy)
    for yc in (y0, y1):
        t_cap = (yc - oy) / dy_safe
        px = ox + t_cap * dx
        pz = oz + t_cap * dz
        ok = (t_cap > EPS_T) & (px * px + pz * pz <= r2) & (dy.abs() >= 1e-12)
        best = torch.minimum(best, torch.where(ok, t_cap, _INF))
    return best


def sphere_t(o: torch.Tensor, d: torch.Tensor, center: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """First root in front of the origin. Elementwise: o, d, center [..., 3], radius [...]; returns [...]."""
    oc = o - center
    a = (d * d).sum(-1)
    b = 2 * (oc * d).sum(-1)
    c = (oc * oc).sum(-1) - radius**2
    disc = b * b - 4 * a * c
    sq = torch.sqrt(disc.clamp_min(0))
    t0 = (-b - sq) / (2 * a)
    t1 = (-b + sq) / (2 * a)
    t = torch.where(t0 > EPS_T, t0, t1)
    return torch.where((disc >= 0) & (t > EPS_T), t, _INF)


def intersect_boxes(
    o: torch.Tensor, d: torch.Tensor, center: torch.Tensor, half: torch.Tensor, yaw: torch.Tensor
) -> torch.Tensor:
    """All pairs: rays o, d [N, 3] (or o [1, 3]) x boxes [P] -> t [P, N]."""
    t = box_t(o[None], d[None], center[:, None], half[:, None], yaw[:, None])
    return t.expand(center.shape[0], d.shape[0])


def intersect_cylinders(
    o: torch.Tensor, d: torch.Tensor, center_xz: torch.Tensor, radius: torch.Tensor, y_range: torch.Tensor
) -> torch.Tensor:
    """All pairs: rays [N] x vertical capped cylinders [P] -> t [P, N]."""
    t = cylinder_t(o[None], d[None], center_xz[:, None], radius[:, None], y_range[:, None])
    return t.expand(center_xz.shape[0], d.shape[0])


def intersect_spheres(o: torch.Tensor, d: torch.Tensor, center: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """All pairs: rays [N] x spheres [P] -> t [P, N]."""
    t = sphere_t(o[None], d[None], center[:, None], radius[:, None])
    return t.expand(center.shape[0], d.shape[0])


def intersect_all(o: torch.Tensor, d: torch.Tensor, prims: Primitives) -> torch.Tensor:
    """t [P, N] for every primitive in global numbering (planes, boxes, cylinders, spheres)."""
    if o.shape[0] == 1 and d.shape[0] > 1:
        o = o.expand(d.shape[0], 3)
    parts = [
        intersect_planes(o, d, prims.plane_normal, prims.plane_offset),
        intersect_boxes(o, d, prims.box_center, prims.box_half, prims.box_yaw),
        intersect_cylinders(o, d, prims.cyl_center, prims.cyl_radius, prims.cyl_y),
        intersect_spheres(o, d, prims.sphere_center, prims.sphere_radius),
    ]
    return torch.cat(parts, 0)


def first_hit(o: torch.Tensor, d: torch.Tensor, prims: Primitives) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest hit per ray: ``(t [N], primitive id [N])``; misses have ``t = inf`` and id -1."""
    t_all = intersect_all(o, d, prims)
    if t_all.shape[0] == 0:
        return torch.full((d.shape[0],), _INF), torch.full((d.shape[0],), -1, dtype=torch.long)
    t, idx = t_all.min(0)
    return t, torch.where(torch.isfinite(t), idx, -1)


def surface_normals(p: torch.Tensor, prim: torch.Tensor, prims: Primitives) -> torch.Tensor:
    """Outward unit normals [N, 3] at hit points p [N, 3] of primitives ``prim`` [N] (-1: zero normal)."""
    n = torch.zeros_like(p)
    s_plane, s_box, s_cyl, s_sph, total = prims.offsets()
    sel = (prim >= s_plane) & (prim < s_box)
    if sel.any():
        n[sel] = prims.plane_normal[prim[sel] - s_plane]
    sel = (prim >= s_box) & (prim < s_cyl)
    if sel.any():
        i = prim[sel] - s_box
        rot = prims.box_rotation[i]  # [M, 3, 3]
        local = torch.einsum("mji,mj->mi", rot, p[sel] - prims.box_center[i])
        q = local / prims.box_half[i]
        axis = q.abs().argmax(-1)
        nl = torch.zeros_like(local)
        nl.scatter_(1, axis[:, None], torch.sign(q.gather(1, axis[:, None])))
        n[sel] = torch.einsum("mij,mj->mi", rot, nl)
    sel = (prim >= s_cyl) & (prim < s_sph)
    if sel.any():
        i = prim[sel] - s_cyl
        ps = p[sel]
        rx = ps[:, 0] - prims.cyl_center[i, 0]
        rz = ps[:, 2] - prims.cyl_center[i, 1]
        radial = torch.sqrt(rx * rx + rz * rz)
        y0, y1 = prims.cyl_y[i, 0], prims.cyl_y[i, 1]
        d_cap = torch.minimum((ps[:, 1] - y0).abs(), (ps[:, 1] - y1).abs())
        side = (radial - prims.cyl_radius[i]).abs() < d_cap
        r = prims.cyl_radius[i]
        side_n = torch.stack([rx / r, torch.zeros_like(rx), rz / r], -1)
        cap_sign = torch.where((ps[:, 1] - y0).abs() < (ps[:, 1] - y1).abs(), -1.0, 1.0)
        cap_n = torch.stack([torch.zeros_like(rx), cap_sign, torch.zeros_like(rx)], -1)
        n[sel] = torch.where(side[:, None], side_n, cap_n)
    sel = (prim >= s_sph) & (prim < total)
    if sel.any():
        i = prim[sel] - s_sph
        n[sel] = (p[sel] - prims.sphere_center[i]) / prims.sphere_radius[i, None]
    return torch.nn.functional.normalize(n, dim=-1)


def _planar_uv(local: torch.Tensor, normal_local: torch.Tensor) -> torch.Tensor:
    """Project local points [M, 3] on the plane across the dominant normal axis: uv [M, 2] in metres."""
    axis = normal_local.abs().argmax(-1)
    u = torch.where(axis == 0, local[:, 2], local[:, 0])
    v = torch.where(axis == 1, local[:, 2], local[:, 1])
    return torch.stack([u, v], -1)


def surface_uv(p: torch.Tensor, n: torch.Tensor, prim: torch.Tensor, prims: Primitives) -> torch.Tensor:
    """Texture coordinates [N, 2] in metres on the surface, so a texture's tile size is a physical size and
    texture density works as a depth cue. Boxes use their own frame (patterns follow the faces); cylinders and
    spheres wrap by arc length."""
    uv = torch.zeros(p.shape[0], 2, dtype=p.dtype, device=p.device)
    s_plane, s_box, s_cyl, s_sph, total = prims.offsets()
    sel = (prim >= s_plane) & (prim < s_box)
    if sel.any():
        uv[sel] = _planar_uv(p[sel], n[sel])
    sel = (prim >= s_box) & (prim < s_cyl)
    if sel.any():
        i = prim[sel] - s_box
        rot = prims.box_rotation[i]
        local = torch.einsum("mji,mj->mi", rot, p[sel] - prims.box_center[i])
        nl = torch.einsum("mji,mj->mi", rot, n[sel])
        uv[sel] = _planar_uv(local + prims.box_half[i], nl)
    sel = (prim >= s_cyl) & (prim < s_sph)
    if sel.any():
        i = prim[sel] - s_cyl
        ps = p[sel]
        rx = ps[:, 0] - prims.cyl_center[i, 0]
        rz = ps[:, 2] - prims.cyl_center[i, 1]
        arc = torch.atan2(rz, rx) * prims.cyl_radius[i]
        cap = n[sel][:, 1].abs() > 0.5
        uv[sel] = torch.where(cap[:, None], torch.stack([rx, rz], -1), torch.stack([arc, ps[:, 1]], -1))
    sel = (prim >= s_sph) & (prim < total)
    if sel.any():
        i = prim[sel] - s_sph
        q = (p[sel] - prims.sphere_center[i]) / prims.sphere_radius[i, None]
        r = prims.sphere_radius[i]
        uv[sel] = torch.stack([torch.atan2(q[:, 2], q[:, 0]) * r, torch.asin(q[:, 1].clamp(-1, 1)) * r], -1)
    return uv


def inside_any(points: torch.Tensor, prims: Primitives, margin: float = 0.0) -> torch.Tensor:
    """bool [N]: points [N, 3] within ``margin`` metres of the inside of any box, cylinder or sphere (planes are
    ignored: they bound rooms rather than fill space). Used to keep sampled cameras out of furniture."""
    out = torch.zeros(points.shape[0], dtype=torch.bool)
    if prims.box_center.shape[0]:
        rot = prims.box_rotation
        local = torch.einsum("pji,pnj->pni", rot, points[None] - prims.box_center[:, None])
        out |= (local.abs() <= prims.box_half[:, None] + margin).all(-1).any(0)
    if prims.cyl_center.shape[0]:
        dx = points[None, :, 0] - prims.cyl_center[:, 0:1]
        dz = points[None, :, 2] - prims.cyl_center[:, 1:2]
        y = points[None, :, 1]
        radial = torch.sqrt(dx * dx + dz * dz) <= prims.cyl_radius[:, None] + margin
        vertical = (y >= prims.cyl_y[:, 0:1] - margin) & (y <= prims.cyl_y[:, 1:2] + margin)
        out |= (radial & vertical).any(0)
    if prims.sphere_center.shape[0]:
        dist = torch.cdist(points, prims.sphere_center)  # [N, Ps]
        out |= (dist <= prims.sphere_radius[None] + margin).any(1)
    return out
