"""A synthetic scene with exact geometry for the pipeline's tests and ``benchmark.lift_geometry``: a textured
box room, optionally with a free-standing box inside it, ray-cast for any camera.

Everything is analytic (slab intersection of each pixel ray with axis-aligned boxes), so the true depth of any
view and the true distance of any point to the nearest surface are known to float precision.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from core.camera import Camera, Intrinsics


@dataclass(frozen=True)
class Box:
    lo: tuple[float, float, float]
    hi: tuple[float, float, float]


@dataclass(frozen=True)
class BoxRoom:
    """Camera-centred room (seen from inside) plus solid boxes (seen from outside)."""

    room: Box = Box((-3.0, -1.5, -3.0), (3.0, 1.2, 4.0))
    solids: tuple[Box, ...] = (Box((-0.6, -0.2, 1.8), (0.4, 1.2, 2.6)),)

    def ray_depth(self, camera: Camera) -> tuple[np.ndarray, np.ndarray]:
        """Exact z-depth [H, W] float32 and the world hit points [H, W, 3] of every pixel of ``camera``."""
        intr = camera.intrinsics
        pose = camera.cam_to_world.double()
        v, u = np.mgrid[0 : intr.height, 0 : intr.width].astype(np.float64)
        d_cam = np.stack([(u - intr.cx) / intr.fx, (v - intr.cy) / intr.fy, np.ones_like(u)], axis=-1)
        R = pose[:3, :3].numpy()
        o = pose[:3, 3].numpy()
        d = d_cam @ R.T  # world direction whose camera z component is 1, so t is the z-depth
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / d
            lo = (np.array(self.room.lo) - o) * inv
            hi = (np.array(self.room.hi) - o) * inv
            t = np.min(np.maximum(lo, hi), axis=-1)  # exit of the room box
            for b in self.solids:
                lo = (np.array(b.lo) - o) * inv
                hi = (np.array(b.hi) - o) * inv
                t_near = np.max(np.minimum(lo, hi), axis=-1)
                t_far = np.min(np.maximum(lo, hi), axis=-1)
                hit = (t_near <= t_far) & (t_near > 1e-6)
                t = np.where(hit & (t_near < t), t_near, t)
        points = o + d * t[..., None]
        return t.astype(np.float32), points.astype(np.float32)

    def surface_distance(self, points: np.ndarray) -> np.ndarray:
        """Distance [N] from each point to the nearest surface (room walls or solid box faces)."""
        p = np.asarray(points, dtype=np.float64)
        lo, hi = np.array(self.room.lo), np.array(self.room.hi)
        inside = np.minimum(p - lo, hi - p).min(axis=1)  # distance to the nearest wall, positive inside
        outside = np.linalg.norm(np.maximum(np.maximum(lo - p, p - hi), 0.0), axis=1)
        dist = np.where(inside >= 0, inside, outside)
        for b in self.solids:
            blo, bhi = np.array(b.lo), np.array(b.hi)
            outside = np.maximum(np.maximum(blo - p, p - bhi), 0.0)
            d_out = np.linalg.norm(outside, axis=1)
            d_in = np.minimum(p - blo, bhi - p).min(axis=1)  # inside the solid: distance to its nearest face
            dist = np.minimum(dist, np.where(d_out > 0, d_out, np.abs(d_in)))
        return dist

    def texture(self, points: np.ndarray) -> np.ndarray:
        """A colour per world point: a 25 cm checkerboard tinted by position, uint8 [..., 3]."""
        p = np.asarray(points, dtype=np.float64)
        checker = (np.floor(p[..., 0] * 4) + np.floor(p[..., 1] * 4) + np.floor(p[..., 2] * 4)) % 2
        base = np.stack([0.5 + 0.1 * np.sin(p[..., 0]), 0.45 + 0.1 * np.cos(p[..., 2]), 0.4 + 0.05 * p[..., 1]], -1)
        rgb = np.clip(base * (0.6 + 0.4 * checker[..., None]), 0, 1)
        return (rgb * 255 + 0.5).astype(np.uint8)

    def photo(self, camera: Camera) -> tuple[np.ndarray, np.ndarray]:
        """``(image uint8 [H, W, 3], depth float32 [H, W])`` seen by ``camera``."""
        depth, pts = self.ray_depth(camera)
        return self.texture(pts), depth


class RoomOracle:
    """``DepthCompleter`` that returns the room's exact depth for the camera the request comes from.

    The camera is identified among ``cameras`` as the one whose exact depth agrees best with the known pixels
    (an empty mask means the input camera), so the pipeline under test gets nothing it did not ask for.
    """

    name = "room-oracle"

    def __init__(self, room: BoxRoom, cameras: list[Camera]) -> None:
        self.room = room
        self.exact = [room.ray_depth(c)[0] for c in cameras]
        self.calls: list[int] = []

    def __call__(self, image: np.ndarray, depth: np.ndarray, known_mask: np.ndarray) -> np.ndarray:
        known = known_mask & (depth > 0)
        if not known.any():
            best = 0
        else:
            errors = [float(np.median(np.abs(e[known] - depth[known]))) for e in self.exact]
            best = int(np.argmin(errors))
        self.calls.append(best)
        return self.exact[best].copy()


def room_cameras(poses: list[torch.Tensor], width: int, height: int, fov_deg: float = 53.13) -> list[Camera]:
    intr = Intrinsics.from_fov(width, height, fov_deg)
    return [Camera(intr, p.float()) for p in poses]
