"""Procedural layouts: where the primitives of an indoor room or an outdoor street go.

World axes follow the project's cameras: y points *down*, so the floor / ground is the plane y = 0 and things
stand at negative y. A layout is pure data (primitives, materials, light, sky) drawn from a numpy Generator;
rendering and camera sampling live in :mod:`training.synth.scene`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from training.synth.primitives import Primitives
from training.synth.textures import Material, make_material, random_color


@dataclass
class Light:
    """A sun (``position`` None, ``direction`` pointing from the sun into the scene) or a point light."""

    color: np.ndarray  # [3]
    ambient: float
    strength: float
    direction: np.ndarray | None = None  # [3] unit, sun only
    position: np.ndarray | None = None  # [3], point light only
    falloff_m: float = 4.0  # point light: distance at which the irradiance halves


@dataclass
class Layout:
    """Everything that defines a scene's geometry and look, plus what camera sampling needs to know."""

    kind: str
    prims: Primitives
    materials: list[Material]
    light: Light
    sky_horizon: np.ndarray  # [3]
    sky_zenith: np.ndarray  # [3]
    bounds: dict[str, float] = field(default_factory=dict)  # region cameras may stand in (kind-specific keys)
    targets: list[np.ndarray] = field(default_factory=list)  # points of interest to look at


class PrimitiveBuilder:
    """Accumulates primitives as python lists and turns them into a :class:`Primitives`."""

    def __init__(self) -> None:
        self.planes: list[tuple[list[float], float, int]] = []
        self.boxes: list[tuple[list[float], list[float], float, int]] = []
        self.cyls: list[tuple[list[float], float, list[float], int]] = []
        self.spheres: list[tuple[list[float], float, int]] = []
        self.materials: list[Material] = []

    def material(self, m: Material) -> int:
        self.materials.append(m)
        return len(self.materials) - 1

    def material_default(self) -> int:
        """A plain grey noise material (hand-built scenes that do not care about looks)."""
        return self.material(make_material(np.random.default_rng(0), "noise"))

    def plane(self, normal: Sequence[float], offset: float, mat: int) -> None:
        self.planes.append((list(normal), float(offset), mat))

    def box(self, center: Sequence[float], half: Sequence[float], mat: int, yaw: float = 0.0) -> None:
        """A box of half extents ``half`` (its own axes) turned by ``yaw`` radians about the vertical."""
        self.boxes.append(([float(c) for c in center], [float(h) for h in half], float(yaw), mat))

    def box_from_extent(self, lo: Sequence[float], hi: Sequence[float], mat: int, yaw: float = 0.0) -> None:
        lo, hi = np.asarray(lo, float), np.asarray(hi, float)
        self.box((lo + hi) / 2, (hi - lo) / 2, mat, yaw)

    def cylinder(self, x: float, z: float, radius: float, y_min: float, y_max: float, mat: int) -> None:
        """A vertical capped cylinder around the axis (x, z), spanning y_min..y_max (y points down)."""
        self.cyls.append(([float(x), float(z)], float(radius), [float(y_min), float(y_max)], mat))

    def sphere(self, center: Sequence[float], radius: float, mat: int) -> None:
        self.spheres.append(([float(c) for c in center], float(radius), mat))

    def build(self) -> Primitives:
        def f(rows, i, shape):
            return torch.tensor([r[i] for r in rows], dtype=torch.float32).reshape(shape)

        def m(rows, i):
            return torch.tensor([r[i] for r in rows], dtype=torch.long).reshape(-1)

        return Primitives(
            plane_normal=f(self.planes, 0, (-1, 3)),
            plane_offset=f(self.planes, 1, (-1,)),
            plane_material=m(self.planes, 2),
            box_center=f(self.boxes, 0, (-1, 3)),
            box_half=f(self.boxes, 1, (-1, 3)),
            box_yaw=f(self.boxes, 2, (-1,)),
            box_material=m(self.boxes, 3),
            cyl_center=f(self.cyls, 0, (-1, 2)),
            cyl_radius=f(self.cyls, 1, (-1,)),
            cyl_y=f(self.cyls, 2, (-1, 2)),
            cyl_material=m(self.cyls, 3),
            sphere_center=f(self.spheres, 0, (-1, 3)),
            sphere_radius=f(self.spheres, 1, (-1,)),
            sphere_material=m(self.spheres, 2),
        )


def empty_room(builder: PrimitiveBuilder, width: float, depth: float, height: float, material: int) -> None:
    """Six inward-facing planes: x in [-width/2, width/2], z in [-depth/2, depth/2], floor y = 0, ceiling -height."""
    builder.plane([0, -1, 0], 0.0, material)
    builder.plane([0, 1, 0], -height, material)
    builder.plane([1, 0, 0], -width / 2, material)
    builder.plane([-1, 0, 0], -width / 2, material)
    builder.plane([0, 0, 1], -depth / 2, material)
    builder.plane([0, 0, -1], -depth / 2, material)


def _free(footprints: list[tuple[float, float, float]], x: float, z: float, r: float) -> bool:
    """True when a disc (x, z, r) overlaps none of the footprints already placed."""
    return all((x - fx) ** 2 + (z - fz) ** 2 > (r + fr) ** 2 for fx, fz, fr in footprints)


def indoor_layout(rng: np.random.Generator) -> Layout:
    """A convex room (six planes) with furniture-like boxes, tables on legs, cylinders, spheres and wall decor."""
    b = PrimitiveBuilder()
    W, D, H = rng.uniform(3.0, 8.0), rng.uniform(3.0, 9.0), rng.uniform(2.4, 3.4)
    hx, hz = W / 2, D / 2
    floor = b.material(make_material(rng, str(rng.choice(["planks", "tiles", "noise", "checker", "photo"]))))
    wall = b.material(make_material(rng, str(rng.choice(["plain", "noise", "stripes", "bricks", "plain"]))))
    wall2 = wall if rng.random() < 0.6 else b.material(make_material(rng, str(rng.choice(["plain", "stripes"]))))
    ceiling = b.material(make_material(rng, "plain"))
    # Normals point into the room; n . x = offset.
    b.plane([0, -1, 0], 0.0, floor)
    b.plane([0, 1, 0], -H, ceiling)
    b.plane([1, 0, 0], -hx, wall)
    b.plane([-1, 0, 0], -hx, wall2)
    b.plane([0, 0, 1], -hz, wall)
    b.plane([0, 0, -1], -hz, wall2)

    furniture = [b.material(make_material(rng)) for _ in range(int(rng.integers(3, 6)))]
    footprints: list[tuple[float, float, float]] = []
    targets: list[np.ndarray] = []

    def pick_mat() -> int:
        return int(rng.choice(furniture))

    # Cabinets / shelves / sofas against the walls, aligned with them.
    for _ in range(int(rng.integers(1, 5))):
        w, d, h = rng.uniform(0.5, 2.0), rng.uniform(0.3, 0.9), rng.uniform(0.4, 2.2)
        side = int(rng.integers(4))
        along = rng.uniform(-1, 1)
        if side < 2:  # against x walls: long side along z
            x = (-hx + d / 2 + 0.01) if side == 0 else (hx - d / 2 - 0.01)
            z = along * max(hz - w / 2, 0.0)
            half = [d / 2, h / 2, w / 2]
        else:
            z = (-hz + d / 2 + 0.01) if side == 2 else (hz - d / 2 - 0.01)
            x = along * max(hx - w / 2, 0.0)
            half = [w / 2, h / 2, d / 2]
        r = math.hypot(half[0], half[2])
        if _free(footprints, x, z, r * 0.8):
            footprints.append((x, z, r * 0.8))
            b.box([x, -h / 2, z], half, pick_mat())
            targets.append(np.array([x, -h / 2, z]))
            if rng.random() < 0.4:  # something on top
                sr = rng.uniform(0.08, 0.25)
                b.sphere([x, -h - sr, z], sr, pick_mat())

    # Free-standing pieces: tables on legs, beds/boxes (yawed), stools, columns, balls, rugs.
    for _ in range(int(rng.integers(2, 7))):
        kind = rng.choice(["table", "block", "cylinder", "sphere", "column"], p=[0.3, 0.3, 0.2, 0.12, 0.08])
        x, z = rng.uniform(-hx + 0.5, hx - 0.5), rng.uniform(-hz + 0.5, hz - 0.5)
        yaw = rng.uniform(0, math.pi)
        if kind == "table":
            w, d, h, th = rng.uniform(0.6, 1.8), rng.uniform(0.5, 1.0), rng.uniform(0.45, 0.8), rng.uniform(0.03, 0.07)
            r = math.hypot(w, d) / 2
            if not _free(footprints, x, z, r):
                continue
            footprints.append((x, z, r))
            mat = pick_mat()
            b.box([x, -h + th / 2, z], [w / 2, th / 2, d / 2], mat, yaw)
            leg = rng.uniform(0.02, 0.05)
            c, s = math.cos(yaw), math.sin(yaw)
            for sx in (-1, 1):
                for sz in (-1, 1):
                    lx, lz = sx * (w / 2 - leg * 1.5), sz * (d / 2 - leg * 1.5)
                    # Box yaw rotates local (x, z) into world as (c*lx + s*lz, -s*lx + c*lz).
                    b.box([x + c * lx + s * lz, -(h - th) / 2, z - s * lx + c * lz], [leg, (h - th) / 2, leg], mat, yaw)
            targets.append(np.array([x, -h, z]))
        elif kind == "block":
            w, d, h = rng.uniform(0.4, 2.0), rng.uniform(0.4, 2.0), rng.uniform(0.3, 1.2)
            r = math.hypot(w, d) / 2
            if not _free(footprints, x, z, r):
                continue
            footprints.append((x, z, r))
            b.box([x, -h / 2, z], [w / 2, h / 2, d / 2], pick_mat(), yaw)
            targets.append(np.array([x, -h / 2, z]))
        elif kind == "cylinder":
            r, h = rng.uniform(0.1, 0.45), rng.uniform(0.3, 1.4)
            if not _free(footprints, x, z, r):
                continue
            footprints.append((x, z, r))
            b.cylinder(x, z, r, -h, 0.0, pick_mat())
            targets.append(np.array([x, -h / 2, z]))
        elif kind == "sphere":
            r = rng.uniform(0.12, 0.5)
            if not _free(footprints, x, z, r):
                continue
            footprints.append((x, z, r))
            b.sphere([x, -r, z], r, pick_mat())
            targets.append(np.array([x, -r, z]))
        else:
            r = rng.uniform(0.1, 0.3)
            if not _free(footprints, x, z, r + 0.6):
                continue
            footprints.append((x, z, r))
            b.cylinder(x, z, r, -H, 0.0, pick_mat())
            targets.append(np.array([x, -H / 2, z]))

    # Flat decor: a rug on the floor and pictures / doors on the walls (thin boxes, small depth steps).
    if rng.random() < 0.5:
        w, d = rng.uniform(1.0, min(3.0, W - 0.4)), rng.uniform(1.0, min(3.0, D - 0.4))
        b.box(
            [rng.uniform(-hx + w / 2, hx - w / 2), -0.005, rng.uniform(-hz + d / 2, hz - d / 2)],
            [w / 2, 0.005, d / 2],
            b.material(make_material(rng)),
        )
    for _ in range(int(rng.integers(0, 4))):
        w, h = rng.uniform(0.4, 1.2), rng.uniform(0.3, 1.0)
        yc = -rng.uniform(1.2, min(2.0, H - 0.3))
        side = int(rng.integers(4))
        t = 0.02
        mat = b.material(make_material(rng, str(rng.choice(["photo", "noise", "stripes", "checker"]))))
        if side < 2:
            x = -hx + t if side == 0 else hx - t
            b.box([x, yc, rng.uniform(-hz + w, hz - w)], [t, h / 2, w / 2], mat)
        else:
            z = -hz + t if side == 2 else hz - t
            b.box([rng.uniform(-hx + w, hx - w), yc, z], [w / 2, h / 2, t], mat)

    light = Light(
        color=np.clip(np.array([1.0, 0.95, 0.85]) + rng.uniform(-0.1, 0.1, 3), 0.6, 1.1),
        ambient=float(rng.uniform(0.25, 0.5)),
        strength=float(rng.uniform(0.7, 1.1)),
        position=np.array([rng.uniform(-hx + 0.3, hx - 0.3), -H + 0.15, rng.uniform(-hz + 0.3, hz - 0.3)]),
        falloff_m=float(rng.uniform(3.0, 6.0)),
    )
    targets += [np.array([0.0, -H / 3, 0.0])]
    return Layout(
        kind="indoor",
        prims=b.build(),
        materials=b.materials,
        light=light,
        sky_horizon=np.zeros(3),
        sky_zenith=np.zeros(3),
        bounds={"hx": hx, "hz": hz, "height": H},
        targets=targets,
    )


def outdoor_layout(rng: np.random.Generator) -> Layout:
    """A street along z: ground, raised sidewalks, building blocks on both sides (sometimes closing the ends),
    cars, poles and trees; sky at infinity (no hit, depth 0)."""
    b = PrimitiveBuilder()
    half_road = rng.uniform(3.0, 8.0)
    side_w = rng.uniform(1.5, 4.0)
    L = rng.uniform(50.0, 90.0)
    road = b.material(make_material(rng, str(rng.choice(["noise", "photo"]))))
    walk = b.material(make_material(rng, str(rng.choice(["tiles", "bricks", "noise"]))))
    # Ground: one wide flat box (top face y = 0) so depth stays bounded where no building stands.
    b.box([0.0, 0.5, 0.0], [400.0, 0.5, 400.0], road)
    kerb = rng.uniform(0.1, 0.2)
    for s in (-1, 1):
        b.box_from_extent(
            [min(s * half_road, s * (half_road + side_w)), -kerb, -L - 30],
            [max(s * half_road, s * (half_road + side_w)), 0.0, L + 30],
            walk,
        )

    facades = [
        b.material(make_material(rng, str(rng.choice(["windows", "windows", "bricks", "plain", "noise"]))))
        for _ in range(int(rng.integers(3, 6)))
    ]
    targets: list[np.ndarray] = []
    front = half_road + side_w
    for s in (-1, 1):
        z = -L - 30
        while z < L + 30:
            w = rng.uniform(6.0, 25.0)
            gap = rng.uniform(0.0, 4.0) if rng.random() < 0.3 else 0.0
            setback = rng.uniform(0.0, 3.0) if rng.random() < 0.4 else 0.0
            depth, h = rng.uniform(8.0, 20.0), rng.uniform(4.0, 40.0)
            x0 = front + setback
            b.box_from_extent(
                [min(s * x0, s * (x0 + depth)), -h, z],
                [max(s * x0, s * (x0 + depth)), 0.0, z + w],
                int(rng.choice(facades)),
            )
            targets.append(np.array([s * x0, -min(h, 6.0) / 2, z + w / 2]))
            z += w + gap
    for end in (-1, 1):
        if rng.random() < 0.5:
            h = rng.uniform(8.0, 40.0)
            z0 = end * (L + 30 + rng.uniform(0, 20))
            b.box_from_extent(
                [-front - 20, -h, min(z0, z0 + end * 15)],
                [front + 20, 0.0, max(z0, z0 + end * 15)],
                int(rng.choice(facades)),
            )
    # Distant towers behind the street rows, for depth range.
    for _ in range(int(rng.integers(0, 5))):
        s = rng.choice([-1, 1])
        x, z = s * rng.uniform(front + 30, front + 120), rng.uniform(-L, L)
        w, h = rng.uniform(10, 30), rng.uniform(30, 90)
        b.box([x, -h / 2, z], [w / 2, h / 2, w / 2], int(rng.choice(facades)))

    car_mats = [b.material(make_material(rng, "plain")) for _ in range(3)]
    for _ in range(int(rng.integers(2, 9))):
        lane = rng.uniform(-half_road + 1.2, half_road - 1.2)
        z = rng.uniform(-L, L)
        yaw = rng.normal(0, 0.05) + (math.pi if rng.random() < 0.5 else 0.0)
        lw, ll, lh = rng.uniform(0.85, 1.0), rng.uniform(1.9, 2.4), rng.uniform(0.45, 0.6)
        mat = int(rng.choice(car_mats))
        b.box([lane, -0.3 - lh, z], [lw, lh, ll], mat, yaw)  # body, wheels' gap under it
        b.box([lane, -0.3 - 2 * lh - 0.3, z], [lw * 0.85, 0.3, ll * 0.5], mat, yaw)  # cabin
        targets.append(np.array([lane, -1.0, z]))
    pole = b.material(make_material(rng, "plain"))
    trunk = b.material(make_material(rng, "noise"))
    crown = b.material(make_material(rng, str(rng.choice(["noise", "photo"]))))
    for _ in range(int(rng.integers(2, 10))):
        s = rng.choice([-1, 1])
        x, z = s * (half_road + rng.uniform(0.4, side_w - 0.3)), rng.uniform(-L, L)
        if rng.random() < 0.5:
            b.cylinder(x, z, rng.uniform(0.05, 0.12), -rng.uniform(3.0, 7.0), -kerb, pole)
        else:
            th, cr = rng.uniform(1.8, 3.5), rng.uniform(0.8, 2.2)
            b.cylinder(x, z, rng.uniform(0.12, 0.3), -th - cr * 0.5, -kerb, trunk)
            b.sphere([x, -th - cr, z], cr, crown)
            targets.append(np.array([x, -th, z]))

    elev, azim = math.radians(rng.uniform(20, 70)), rng.uniform(0, 2 * math.pi)
    to_sun = np.array([math.cos(elev) * math.sin(azim), -math.sin(elev), math.cos(elev) * math.cos(azim)])
    light = Light(
        color=np.clip(np.array([1.0, 0.96, 0.88]) + rng.uniform(-0.08, 0.08, 3), 0.6, 1.1),
        ambient=float(rng.uniform(0.3, 0.5)),
        strength=float(rng.uniform(0.6, 0.9)),
        direction=-to_sun,
    )
    zenith = np.clip(np.array([0.25, 0.45, 0.85]) + rng.uniform(-0.15, 0.15, 3), 0, 1)
    horizon = np.clip(random_color(rng, 0.7, 0.95) * 0.3 + np.array([0.75, 0.8, 0.85]) * 0.7, 0, 1)
    return Layout(
        kind="outdoor",
        prims=b.build(),
        materials=b.materials,
        light=light,
        sky_horizon=horizon,
        sky_zenith=zenith,
        bounds={"half_road": half_road, "side_w": side_w, "length": L},
        targets=targets,
    )
