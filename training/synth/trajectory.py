"""Smooth camera paths through a procedural scene: posed *sequences* like a hand-held RGB-D scan (TUM, ScanNet),
for training and scoring volumetric reconstruction.

A path walks through a few keyframe cameras drawn by :meth:`SyntheticScene.sample_cameras` (which look at content
from free space); frames in between interpolate the eye position linearly and the viewing direction by normalised
lerp, with one field of view for the whole sequence. Frames whose eye falls inside furniture are dropped.
"""

from __future__ import annotations

import numpy as np
import torch

from core.camera import Camera, Intrinsics, look_at
from training.synth.primitives import inside_any
from training.synth.scene import SyntheticScene


def sequence_cameras(
    scene: SyntheticScene,
    n_frames: int,
    rng: np.random.Generator,
    height: int,
    width: int,
    *,
    n_keyframes: int = 4,
    fov_deg: float | None = None,
) -> list[Camera]:
    """About ``n_frames`` cameras along a smooth path (fewer only if some fall inside furniture)."""
    keys = scene.sample_cameras(n_keyframes, rng, height, width)
    fov = float(fov_deg if fov_deg is not None else rng.uniform(50.0, 75.0))
    intr = Intrinsics.from_fov(width, height, fov)
    eyes = torch.stack([c.cam_to_world[:3, 3] for c in keys])
    fwd = torch.stack([c.cam_to_world[:3, 2] for c in keys])
    cams: list[Camera] = []
    segments = n_keyframes - 1
    for i in range(n_frames):
        s = i / max(n_frames - 1, 1) * segments
        k = min(int(s), segments - 1)
        a = s - k
        eye = (1 - a) * eyes[k] + a * eyes[k + 1]
        f = (1 - a) * fwd[k] + a * fwd[k + 1]
        if f.norm() < 1e-3 or inside_any(eye[None], scene.prims, margin=0.1)[0]:
            continue
        f = f / f.norm()
        if abs(float(f[1])) > 0.95:
            continue
        cams.append(Camera(intr, look_at(eye, eye + f)))
    return cams
