"""Where synthetic cameras stand and look: varied positions, heights and fields of view, always at content.

Rooms: anywhere in free space at 0.5-2.2 m height, aimed at a piece of furniture or a random point on the walls.
Streets: on the road or the sidewalks at 1-10 m (log-uniform), looking along the street or at a facade with the
horizon in view. Every candidate is checked with a tiny depth probe (no staring into a surface, little sky, at
least three surfaces in view) before it is accepted.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from core.camera import Camera, Intrinsics, look_at, pose_from_yaw_pitch
from training.synth.layouts import Layout
from training.synth.primitives import inside_any
from training.synth.raycast import first_hit_culled

FOV_RANGE_DEG = (40.0, 90.0)
"""Horizontal fields of view drawn by :func:`sample_cameras`."""


def pixel_rays(
    K: torch.Tensor, cam_to_world: torch.Tensor, height: int, width: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Origin [1, 3] and world directions [H*W, 3] through the pixel centres, scaled to unit camera z so a ray
    parameter is a z-depth."""
    v, u = torch.meshgrid(
        torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij"
    )
    dirs = torch.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], torch.ones_like(u)], -1).reshape(-1, 3)
    R, t = cam_to_world[:3, :3], cam_to_world[:3, 3]
    return t[None, :], dirs @ R.T


def probe_ok(layout: Layout, pose: torch.Tensor) -> bool:
    """A cheap 18x24 depth probe: reject views that stare into one surface, see mostly sky or too little."""
    K = Intrinsics.from_fov(24, 18, 60.0).matrix()
    o, d = pixel_rays(K, pose, 18, 24)
    t, prim = first_hit_culled(o, d, layout.prims)
    valid = prim >= 0
    indoor = layout.kind == "indoor"
    if valid.float().mean() < (0.95 if indoor else 0.4):
        return False
    # At least three surfaces each covering 3% of the view: content, not a bare wall or bare ground.
    counts = torch.bincount(prim[valid])
    if int((counts >= 0.03 * prim.numel()).sum()) < 3:
        return False
    return float(t[valid].median()) > (1.0 if indoor else 3.0)


def in_free_space(layout: Layout, position: np.ndarray, margin: float = 0.1) -> bool:
    """Whether a camera at ``position`` stands in free space: not inside an object, above the ground and, for
    rooms, between the walls (a moved camera can otherwise end up behind a wall and see nothing of the scene)."""
    if bool(inside_any(torch.from_numpy(np.asarray(position, np.float32))[None], layout.prims, margin=margin)[0]):
        return False
    if position[1] > -margin:  # floor / ground is the plane y = 0 (y points down)
        return False
    b = layout.bounds
    if "hx" in b and "hz" in b:
        within = abs(position[0]) < b["hx"] - margin and abs(position[2]) < b["hz"] - margin
        return within and position[1] > -b.get("height", np.inf) + margin
    return True


def indoor_pose(layout: Layout, rng: np.random.Generator) -> torch.Tensor | None:
    """A candidate room camera, or None when the draw lands in furniture or looks too steeply."""
    b = layout.bounds
    hx, hz, H = b["hx"], b["hz"], b["height"]
    eye = np.array(
        [
            rng.uniform(-hx + 0.35, hx - 0.35),
            -rng.uniform(0.5, min(2.2, H - 0.3)),
            rng.uniform(-hz + 0.35, hz - 0.35),
        ]
    )
    if inside_any(torch.tensor(eye, dtype=torch.float32)[None], layout.prims, margin=0.25)[0]:
        return None
    targets = layout.targets
    if rng.random() < 0.7:
        target = targets[int(rng.integers(len(targets)))] + rng.normal(0, 0.3, 3)
    else:  # a random point on the walls / floor
        target = np.array([rng.uniform(-hx, hx), -rng.uniform(0, H), rng.uniform(-hz, hz)])
    direction = target - eye
    horiz = math.hypot(direction[0], direction[2])
    if horiz < 0.5 or abs(math.degrees(math.atan2(-direction[1], horiz))) > 45:
        return None
    return look_at(torch.tensor(eye, dtype=torch.float32), torch.tensor(target, dtype=torch.float32))


def outdoor_pose(layout: Layout, rng: np.random.Generator) -> torch.Tensor | None:
    """A candidate street camera, or None when the draw lands inside a car, pole or tree."""
    b = layout.bounds
    x = rng.uniform(-b["half_road"] - b["side_w"] + 0.5, b["half_road"] + b["side_w"] - 0.5)
    z = rng.uniform(-0.7 * b["length"], 0.7 * b["length"])
    height = float(np.exp(rng.uniform(math.log(1.0), math.log(10.0))))
    eye = np.array([x, -height, z])
    if inside_any(torch.tensor(eye, dtype=torch.float32)[None], layout.prims, margin=0.3)[0]:
        return None
    if rng.random() < 0.7:  # along the street
        yaw = (0.0 if rng.random() < 0.5 else 180.0) + rng.uniform(-55, 55)
    else:  # towards a facade
        yaw = (90.0 if rng.random() < 0.5 else -90.0) + rng.uniform(-35, 35)
    # Keep the horizon in view: look slightly down at street level, more so from higher up.
    pitch = rng.uniform(-10, 8) - 1.5 * min(max(height - 2.0, 0.0), 10.0)
    return pose_from_yaw_pitch(float(yaw), float(pitch), tuple(float(c) for c in eye))


def sample_cameras(
    layout: Layout,
    n: int,
    rng: np.random.Generator,
    height: int,
    width: int,
    fov_range_deg: tuple[float, float] = FOV_RANGE_DEG,
    *,
    name: str = "scene",
) -> list[Camera]:
    """``n`` accepted cameras (intrinsics for ``width`` x ``height``, FOV ~ U[fov_range_deg])."""
    propose = indoor_pose if layout.kind == "indoor" else outdoor_pose
    cams: list[Camera] = []
    tries = 0
    while len(cams) < n:
        tries += 1
        if tries > 200 * max(n, 1):
            raise RuntimeError(f"{name}: could not place {n} cameras (placed {len(cams)})")
        pose = propose(layout, rng)
        if pose is None or not probe_ok(layout, pose):
            continue
        fov = float(rng.uniform(*fov_range_deg))
        cams.append(Camera(Intrinsics.from_fov(width, height, fov), pose))
    return cams
