"""Self-training masks (Invisible Stitch, section 3.2): realistic "what a new camera cannot see" shapes.

A frame is lifted to a point cloud with its depth, the camera is moved a little (orbit about the scene centre by
up to +-15 degrees in azimuth and elevation, distance scaled by 0.9-1.1), the cloud is re-rendered, and the
pixels nothing covers form the mask. Those are exactly the disocclusion shapes the generation loop produces, so a
network trained to fill them sees at training time the holes it must fill at inference. Applying the mask to the
original frame gives a completion sample: image, depth outside the mask, the mask, and the full depth as target.

Depth edges are snapped first (:func:`core.masks.snap_depth_edges`, shared with the generation loop): a pixel on
a discontinuity whose depth lies between foreground and background (a "flying pixel" of a predicted or filtered
depth map) is moved to whichever side is closer, otherwise it would cover the very pixels that should be
disoccluded.
"""

from __future__ import annotations

import numpy as np
import torch

from core.camera import rotation_yaw_pitch_roll
from core.masks import snap_depth_edges
from training.data.frame import Frame
from training.data.lift import render_lifted
from training.data.pairs import reproject_depth

__all__ = [
    "fill_cracks",
    "make_completion_sample",
    "reproject_depth",
    "sample_warp_pose",
    "warp_mask",
    "warp_mask_for_pose",
]


def fill_cracks(covered: np.ndarray, depth: np.ndarray, rel_tol: float = 0.05) -> np.ndarray:
    """bool [H, W]: coverage with one-pixel cracks closed.

    A point cloud re-rendered from a moved camera leaves pinholes where a surface is stretched (grazing floors and
    ceilings); those are sampling artefacts, not disocclusions. An uncovered pixel is filled when its two
    horizontal or its two vertical neighbours are covered at depths within ``rel_tol`` of each other, i.e. by the
    same surface; a gap between a foreground and a background surface stays open. (The generation loop's
    :func:`core.masks.thin_cracks` closes any one-pixel gap; here a gap between two surfaces may be a real
    sliver of disocclusion, so depth decides.)"""
    c = np.pad(covered, 1, constant_values=False)
    d = np.pad(np.where(covered, depth, 0.0), 1)

    def same_surface(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.abs(a - b) <= rel_tol * np.minimum(a, b)

    horiz = c[1:-1, :-2] & c[1:-1, 2:] & same_surface(d[1:-1, :-2], d[1:-1, 2:])
    vert = c[:-2, 1:-1] & c[2:, 1:-1] & same_surface(d[:-2, 1:-1], d[2:, 1:-1])
    return covered | horiz | vert


def sample_warp_pose(
    frame: Frame,
    rng: np.random.Generator,
    max_angle_deg: float = 15.0,
    dist_range: tuple[float, float] = (0.9, 1.1),
) -> np.ndarray:
    """A camera-to-world [4, 4] float32 orbiting the frame's camera about the point on its optical axis at the
    median valid depth (azimuth, elevation ~ U[-max, max] degrees; distance to that point x U[dist_range])."""
    valid = frame.depth > 0
    pivot_z = float(np.median(frame.depth[valid])) if valid.any() else 1.0
    az, el = rng.uniform(-max_angle_deg, max_angle_deg, size=2)
    scale = rng.uniform(*dist_range)
    R = rotation_yaw_pitch_roll(float(az), float(el))  # float64, camera axes
    pivot = torch.tensor([0.0, 0.0, pivot_z], dtype=torch.float64)
    rel = torch.eye(4, dtype=torch.float64)
    rel[:3, :3] = R
    rel[:3, 3] = pivot - scale * (R @ pivot)  # the pivot stays on the new optical axis at distance scale * z
    return (torch.from_numpy(frame.cam_to_world.astype(np.float64)) @ rel).float().numpy()


def warp_mask_for_pose(frame: Frame, cam_to_world: np.ndarray, *, snap: bool = True) -> np.ndarray:
    """bool [H, W]: pixels of the camera ``cam_to_world`` (same intrinsics and size as ``frame``) that the
    frame's lifted depth does not cover."""
    depth = snap_depth_edges(frame.depth, float(frame.K[0, 0])) if snap else frame.depth
    r = render_lifted(frame, frame.K, cam_to_world, frame.height, frame.width, depth=depth)
    return ~fill_cracks(r.mask.numpy(), r.depth.numpy())


def warp_mask(
    frame: Frame,
    rng: np.random.Generator,
    max_angle_deg: float = 15.0,
    dist_range: tuple[float, float] = (0.9, 1.1),
) -> np.ndarray:
    """The self-training mask of ``frame`` for a random nearby camera (see :func:`sample_warp_pose`)."""
    return warp_mask_for_pose(frame, sample_warp_pose(frame, rng, max_angle_deg, dist_range))


def make_completion_sample(frame: Frame, mask: np.ndarray) -> dict[str, np.ndarray]:
    """A depth-completion training sample: the depth is known outside ``mask`` (where valid) and the target is
    the full depth. Returns ``image`` uint8 [H, W, 3], ``sparse_depth`` float32 [H, W] (0 where unknown),
    ``known_mask`` bool [H, W] and ``target`` float32 [H, W] (0 = no supervision)."""
    if mask.shape != frame.depth.shape:
        raise ValueError(f"mask must be {frame.depth.shape} like the frame, got {mask.shape}")
    known = ~mask.astype(bool) & (frame.depth > 0)
    return {
        "image": frame.image,
        "sparse_depth": np.where(known, frame.depth, 0.0).astype(np.float32),
        "known_mask": known,
        "target": frame.depth.astype(np.float32),
    }
