"""Completion samples from two real views of a scene: view A's depth, re-rendered into view B, is the known
depth of B; B's own depth is the target. This is the second source of training masks (the first being
:mod:`training.data.masks`) and the construction the benchmark uses for its evaluation pairs.
"""

from __future__ import annotations

import numpy as np

from training.data.frame import Frame
from training.data.lift import render_lifted


def reproject_depth(frame_a: Frame, frame_b: Frame) -> np.ndarray:
    """float32 [H_b, W_b]: z-depth in view B of the nearest lifted pixel of view A; 0 where A covers nothing."""
    return render_lifted(frame_a, frame_b.K, frame_b.cam_to_world, frame_b.height, frame_b.width).depth.numpy()


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
