"""Lift a frame's depth to surface splats and re-render them from another camera.

Both training-mask sources (a moved camera for self-training, a second real view for pairs) ask the same
question: which pixels of camera B does the surface seen by camera A cover? Each valid pixel becomes a splat in
:func:`core.render.render_points_world_size` of radius ``0.75 * depth / fx`` (a pixel's footprint, so camera B's
perspective scales it), enlarged by how much the surface is stretched between the views: the ratio of the
cosines between the surface normal (from the depth map's local gradient) and the two viewing rays. A floor or
ceiling seen at a grazing angle by A and more frontally by B stays closed instead of breaking into dotted cracks
that no real disocclusion would produce, while for an unmoved camera every splat keeps its footprint size, so the
re-render covers exactly the valid pixels.
"""

from __future__ import annotations

import numpy as np
import torch

from core.camera import invert_pose, unproject_depth
from core.render import PointRender, render_points_world_size
from training.data.frame import Frame

SPLAT_SIZE = 0.75
"""Splat radius in units of a pixel's footprint ``depth / fx``: 0.75 closes a frontal surface (a pixel's
half-diagonal is 0.71) without letting foreground bleed over holes."""

MAX_STRETCH = 3.0
"""Cap on the stretch factor (grazing angles make the cosine ratio unreliable)."""

EDGE_REL_JUMP = 0.05
"""Second difference of inverse depth, relative to the pixel's, above which the normal estimate is not trusted
(a depth edge rather than a continuous surface)."""


def _normals(cam_pts: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit normals [H, W, 3] in camera axes (cross product of central differences of camera-space points) and
    a bool [H, W] of where they are reliable (inside the image, all four neighbours valid, no depth edge)."""
    H, W = valid.shape
    normals = torch.zeros(H, W, 3)
    ok = torch.zeros(H, W, dtype=torch.bool)
    if H < 3 or W < 3:
        return normals, ok
    z = cam_pts[..., 2]
    dx = cam_pts[1:-1, 2:] - cam_pts[1:-1, :-2]
    dy = cam_pts[2:, 1:-1] - cam_pts[:-2, 1:-1]
    normals[1:-1, 1:-1] = torch.nn.functional.normalize(torch.linalg.cross(dx, dy), dim=-1)
    # A plane's inverse depth is affine in pixel coordinates, so its second differences vanish; across a depth
    # edge they are large. This accepts steep but continuous surfaces (grazing floors) and rejects edges.
    inv = torch.where(valid, 1.0 / z.clamp_min(1e-6), torch.zeros_like(z))
    ic = inv[1:-1, 1:-1]
    inner = valid[1:-1, 1:-1] & valid[1:-1, 2:] & valid[1:-1, :-2] & valid[2:, 1:-1] & valid[:-2, 1:-1]
    inner &= (inv[1:-1, 2:] + inv[1:-1, :-2] - 2 * ic).abs() <= EDGE_REL_JUMP * ic
    inner &= (inv[2:, 1:-1] + inv[:-2, 1:-1] - 2 * ic).abs() <= EDGE_REL_JUMP * ic
    ok[1:-1, 1:-1] = inner
    return normals, ok


def lift(
    frame: Frame, depth: np.ndarray | None = None, target_cam_to_world: np.ndarray | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """World points [M, 3] of the valid pixels of ``depth`` (default: the frame's) and their splat radii [M] in
    metres, enlarged for the surface stretch towards the camera at ``target_cam_to_world`` when given."""
    d = torch.from_numpy(np.ascontiguousarray(frame.depth if depth is None else depth, dtype=np.float32))
    K = torch.from_numpy(frame.K)
    valid = d > 0
    cam = unproject_depth(d, K)
    pose = torch.from_numpy(frame.cam_to_world)
    pts = cam[valid] @ pose[:3, :3].T + pose[:3, 3]
    radius = SPLAT_SIZE * d[valid] / K[0, 0]
    if target_cam_to_world is not None:
        normals, ok = _normals(cam, valid)
        n_world = normals[valid] @ pose[:3, :3].T
        cos_a = (n_world * torch.nn.functional.normalize(pts - pose[:3, 3], dim=-1)).sum(-1).abs()
        eye_b = torch.as_tensor(np.asarray(target_cam_to_world, dtype=np.float32))[:3, 3]
        cos_b = (n_world * torch.nn.functional.normalize(pts - eye_b, dim=-1)).sum(-1).abs()
        stretch = (cos_b / cos_a.clamp_min(1e-6)).clamp(1.0, MAX_STRETCH)
        radius = radius * torch.where(ok[valid], stretch, torch.ones_like(stretch))
    return pts, radius


def render_lifted(
    frame: Frame, K: np.ndarray, cam_to_world: np.ndarray, height: int, width: int, depth: np.ndarray | None = None
) -> PointRender:
    """What camera (K, cam_to_world, height, width) sees of the frame's lifted surface (z-buffered splats)."""
    pts, radius = lift(frame, depth, cam_to_world)
    w2c = invert_pose(torch.from_numpy(np.asarray(cam_to_world, dtype=np.float32)))
    return render_points_world_size(
        pts, torch.zeros(pts.shape[0], 1), radius, torch.from_numpy(np.asarray(K, dtype=np.float32)), w2c, height, width
    )
