"""Completion samples from two real views of a scene: view A's depth, re-rendered into view B, is the known
depth of B; B's own depth is the target. This is the second source of training masks (the first being
:mod:`training.data.masks`) and the construction the benchmark uses for its evaluation pairs.
"""

from __future__ import annotations

import numpy as np
import torch

from core.camera import invert_pose, unproject_depth
from core.render import render_points_world_size
from training.data.frame import Frame

SPLAT_SIZE = 0.75
"""World radius of a lifted pixel's splat, in units of its footprint ``depth / fx``: 0.75 closes the surface
for small camera motions (a pixel's half-diagonal is 0.71) without letting foreground bleed over holes."""


def reproject_depth(frame_a: Frame, frame_b: Frame) -> np.ndarray:
    """float32 [H_b, W_b]: z-depth in view B of the nearest lifted pixel of view A; 0 where A covers nothing."""
    d = torch.from_numpy(frame_a.depth)
    Ka = torch.from_numpy(frame_a.K)
    valid = d > 0
    pts = unproject_depth(d, Ka, torch.from_numpy(frame_a.cam_to_world))[valid]
    size = d[valid] / Ka[0, 0] * SPLAT_SIZE
    w2c = invert_pose(torch.from_numpy(frame_b.cam_to_world))
    r = render_points_world_size(pts, torch.zeros(pts.shape[0], 1), size, torch.from_numpy(frame_b.K), w2c,
                                 frame_b.height, frame_b.width)
    return r.depth.numpy()


def make_pair_sample(frame_a: Frame, frame_b: Frame, max_rel_error: float = 0.05) -> dict[str, np.ndarray]:
    """A completion sample for view B: known depth = A reprojected (where it agrees with B's own depth within
    ``max_rel_error``, which drops pixels seen through occluders or with bad poses), target = B's depth."""
    reproj = reproject_depth(frame_a, frame_b)
    gt = frame_b.depth
    agree = (gt <= 0) | (np.abs(reproj - gt) <= max_rel_error * np.maximum(gt, 1e-6))
    known = (reproj > 0) & agree
    return {
        "image": frame_b.image,
        "sparse_depth": np.where(known, reproj, 0.0).astype(np.float32),
        "known_mask": known,
        "target": gt.astype(np.float32),
    }
