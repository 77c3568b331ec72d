"""NYU Depth v2 in the widely used ``sync`` layout (the raw-video subset aligned by the BTS authors):

    sync/<scene>/rgb_00000.jpg
    sync/<scene>/sync_depth_00000.png      16-bit, millimetres (0 = no measurement)

NYU frames carry no camera poses, so every frame gets the identity pose; they are single views for
self-training masks, not pairs. The intrinsics are the Kinect colour camera's published calibration at 640x480
and are rescaled when a folder holds frames at another size.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from training.data.decode import read_depth_png, read_rgb
from training.data.frame import Frame, FrameSequence

NYU_SIZE = (640, 480)
NYU_K = np.array([[518.8579, 0.0, 325.5824], [0.0, 519.4696, 253.7362], [0.0, 0.0, 1.0]], dtype=np.float32)
"""Colour-camera intrinsics of NYU Depth v2 at 640x480 (the dataset toolbox's calibration)."""

_RGB = re.compile(r"^rgb_(\d+)\.jpg$")


class NYUv2Reader:
    """Scenes are the sub-folders of ``root`` (or of ``root/sync``) that hold rgb/sync_depth pairs."""

    def __init__(self, root: str | Path, units_per_metre: float = 1000.0) -> None:
        root = Path(root)
        if not any(root.glob("*/rgb_*.jpg")) and (root / "sync").is_dir():
            root = root / "sync"
        if not root.is_dir():
            raise FileNotFoundError(f"NYUv2 root {root} does not exist")
        self.root = root
        self.units_per_metre = units_per_metre
        self._frames: dict[str, list[str]] = {}
        for scene in sorted(p for p in root.iterdir() if p.is_dir()):
            ids = sorted(
                m.group(1)
                for f in scene.iterdir()
                if (m := _RGB.match(f.name)) and (scene / f"sync_depth_{m.group(1)}.png").exists()
            )
            if ids:
                self._frames[scene.name] = ids

    def scene_ids(self) -> list[str]:
        return list(self._frames)

    def load(self, scene_id: str, frame_id: str) -> Frame:
        folder = self.root / scene_id
        image = read_rgb(folder / f"rgb_{frame_id}.jpg")
        depth = read_depth_png(folder / f"sync_depth_{frame_id}.png", self.units_per_metre)
        if depth.shape != image.shape[:2]:
            raise ValueError(f"{folder}: rgb_{frame_id} is {image.shape[:2]} but its depth is {depth.shape}")
        H, W = depth.shape
        K = NYU_K.copy()
        if (W, H) != NYU_SIZE:
            sx, sy = W / NYU_SIZE[0], H / NYU_SIZE[1]
            K[0, 0] *= sx
            K[1, 1] *= sy
            K[0, 2] = (K[0, 2] + 0.5) * sx - 0.5
            K[1, 2] = (K[1, 2] + 0.5) * sy - 0.5
        return Frame(image, depth, K, np.eye(4, dtype=np.float32), scene_id, frame_id)

    def frames(self, scene_id: str) -> FrameSequence:
        if scene_id not in self._frames:
            raise KeyError(f"unknown NYUv2 scene {scene_id!r} in {self.root}")
        return FrameSequence(self._frames[scene_id], lambda fid: self.load(scene_id, fid))
