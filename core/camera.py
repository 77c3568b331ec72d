"""Pinhole cameras in OpenCV axes (x right, y down, z forward) and the maps between pixels and points.

All functions are plain torch and work on any device; shapes are written beside each argument.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

DEFAULT_FOV_DEG = 53.13
"""Horizontal field of view used when the caller gives none: focal length = image width, as Invisible Stitch."""


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels for an image of ``width`` x ``height``."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @classmethod
    def from_fov(cls, width: int, height: int, fov_deg: float = DEFAULT_FOV_DEG) -> Intrinsics:
        """Square pixels, principal point at the image centre, ``fov_deg`` across the width."""
        if not 1.0 <= fov_deg <= 179.0:
            raise ValueError(f"fov_deg must lie in [1, 179] degrees, got {fov_deg!r}")
        f = 0.5 * width / math.tan(math.radians(fov_deg) / 2)
        return cls(fx=f, fy=f, cx=(width - 1) / 2, cy=(height - 1) / 2, width=width, height=height)

    @classmethod
    def from_focal(cls, width: int, height: int, focal_px: float) -> Intrinsics:
        if focal_px <= 0:
            raise ValueError(f"focal_px must be positive, got {focal_px!r}")
        return cls(fx=focal_px, fy=focal_px, cx=(width - 1) / 2, cy=(height - 1) / 2, width=width, height=height)

    @classmethod
    def from_matrix(cls, K: torch.Tensor, width: int, height: int) -> Intrinsics:
        K = torch.as_tensor(K, dtype=torch.float64)
        return cls(float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2]), width, height)

    @property
    def fov_x_deg(self) -> float:
        return math.degrees(2 * math.atan(0.5 * self.width / self.fx))

    def matrix(self, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """``K``: [3, 3]."""
        return torch.tensor(
            [[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]], device=device, dtype=dtype
        )

    def scaled(self, factor: float) -> Intrinsics:
        """The same camera for an image resized by ``factor`` (pixel centres at integers)."""
        w, h = round(self.width * factor), round(self.height * factor)
        sx, sy = w / self.width, h / self.height
        return Intrinsics(
            self.fx * sx, self.fy * sy, (self.cx + 0.5) * sx - 0.5, (self.cy + 0.5) * sy - 0.5, w, h
        )

    def to_dict(self) -> dict[str, float | int]:
        return {"fx": self.fx, "fy": self.fy, "cx": self.cx, "cy": self.cy, "width": self.width, "height": self.height}


@dataclass(frozen=True)
class Camera:
    """Intrinsics plus a camera-to-world pose ([4, 4], OpenCV axes)."""

    intrinsics: Intrinsics
    cam_to_world: torch.Tensor  # [4, 4]

    def world_to_cam(self) -> torch.Tensor:
        return invert_pose(self.cam_to_world)

    def to_dict(self) -> dict[str, object]:
        return {"intrinsics": self.intrinsics.to_dict(), "cam_to_world": self.cam_to_world.tolist()}


def invert_pose(pose: torch.Tensor) -> torch.Tensor:
    """Rigid inverse of ``pose``: [..., 4, 4]."""
    R = pose[..., :3, :3]
    t = pose[..., :3, 3:]
    out = torch.zeros_like(pose)
    out[..., :3, :3] = R.transpose(-1, -2)
    out[..., :3, 3:] = -R.transpose(-1, -2) @ t
    out[..., 3, 3] = 1
    return out


def pixel_grid(height: int, width: int, device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(u, v)`` pixel-centre coordinates, each [H, W] float32."""
    v, u = torch.meshgrid(
        torch.arange(height, device=device, dtype=torch.float32),
        torch.arange(width, device=device, dtype=torch.float32),
        indexing="ij",
    )
    return u, v


def unproject_depth(depth: torch.Tensor, K: torch.Tensor, cam_to_world: torch.Tensor | None = None) -> torch.Tensor:
    """Lift a z-depth map to points.

    depth: [H, W] metres (z along the optical axis, not ray length); K: [3, 3]; cam_to_world: [4, 4] or None.
    Returns [H, W, 3] points in world coordinates (camera coordinates when ``cam_to_world`` is None).
    """
    assert depth.ndim == 2, f"depth must be [H, W], got {tuple(depth.shape)}"
    H, W = depth.shape
    u, v = pixel_grid(H, W, depth.device)
    K = K.to(depth)
    x = (u - K[0, 2]) / K[0, 0] * depth
    y = (v - K[1, 2]) / K[1, 1] * depth
    pts = torch.stack([x, y, depth], dim=-1)
    if cam_to_world is not None:
        pose = cam_to_world.to(depth)
        pts = pts @ pose[:3, :3].T + pose[:3, 3]
    return pts


def transform_points(points: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
    """Apply a 4x4 rigid transform to points [..., 3]."""
    pose = pose.to(points)
    return points @ pose[:3, :3].T + pose[:3, 3]


def project_points(
    points_world: torch.Tensor, K: torch.Tensor, world_to_cam: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Project world points [N, 3] to pixels.

    Returns ``(uv, z)``: uv [N, 2] pixel coordinates (float, centres at integers), z [N] camera-space depth.
    Points with z <= 0 get meaningless uv; callers must mask them with ``z > 0``.
    """
    cam = transform_points(points_world, world_to_cam)
    z = cam[:, 2]
    K = K.to(points_world)
    zs = z.clamp_min(1e-8)
    u = K[0, 0] * cam[:, 0] / zs + K[0, 2]
    v = K[1, 1] * cam[:, 1] / zs + K[1, 2]
    return torch.stack([u, v], dim=-1), z


def rotation_yaw_pitch_roll(yaw_deg: float, pitch_deg: float = 0.0, roll_deg: float = 0.0) -> torch.Tensor:
    """Rotation [3, 3] (float64) for a camera turned by yaw (about -y, i.e. positive = turn right), then pitch
    (about x, positive = look up), then roll (about z), in OpenCV axes."""
    y, p, r = (math.radians(a) for a in (yaw_deg, pitch_deg, roll_deg))
    # Positive yaw turns the view to the right: the camera's +z swings towards world +x.
    Ry = torch.tensor([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]], dtype=torch.float64)
    # Positive pitch looks up: +z swings towards world -y (y points down).
    Rx = torch.tensor([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]], dtype=torch.float64)
    Rz = torch.tensor([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]], dtype=torch.float64)
    return Ry @ Rx @ Rz


def pose_from_yaw_pitch(
    yaw_deg: float, pitch_deg: float = 0.0, translation: tuple[float, float, float] = (0.0, 0.0, 0.0)
) -> torch.Tensor:
    """Camera-to-world [4, 4] float32: a camera at ``translation`` (world, metres) turned by yaw and pitch."""
    pose = torch.eye(4, dtype=torch.float64)
    pose[:3, :3] = rotation_yaw_pitch_roll(yaw_deg, pitch_deg)
    pose[:3, 3] = torch.tensor(translation, dtype=torch.float64)
    return pose.float()


def look_at(eye: torch.Tensor, target: torch.Tensor, up: torch.Tensor | None = None) -> torch.Tensor:
    """Camera-to-world [4, 4] for a camera at ``eye`` looking at ``target``; ``up`` defaults to world -y."""
    eye = torch.as_tensor(eye, dtype=torch.float32)
    target = torch.as_tensor(target, dtype=torch.float32)
    up = torch.tensor([0.0, -1.0, 0.0]) if up is None else torch.as_tensor(up, dtype=torch.float32)
    z = target - eye
    z = z / z.norm()
    x = torch.linalg.cross(-up, z)  # OpenCV: y points down, so "down" x forward = right
    if x.norm() < 1e-6:
        raise ValueError("look_at: viewing direction is parallel to the up vector")
    x = x / x.norm()
    y = torch.linalg.cross(z, x)
    pose = torch.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = x, y, z, eye
    return pose
