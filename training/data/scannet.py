"""ScanNet frames as exported by its SensReader tool:

    <root>/<scene>/color/<N>.jpg                 colour (1296x968 in the release)
    <root>/<scene>/depth/<N>.png                 16-bit millimetres (640x480)
    <root>/<scene>/pose/<N>.txt                  4x4 camera-to-world, OpenCV axes (metres)
    <root>/<scene>/intrinsic/intrinsic_depth.txt 4x4 (upper-left 3x3 is K) of the depth camera
    <root>/<scene>/intrinsic/intrinsic_color.txt 4x4 of the colour camera

Frames are returned at the depth camera's resolution with its intrinsics (the colour image is resized to it),
because depth is the supervision and resampling it would blur edges; the registered colour is close enough
for training. Frames whose pose is invalid (ScanNet writes ``-inf`` when tracking was lost) are skipped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from training.data.decode import read_depth_png, read_rgb
from training.data.frame import Frame, FrameSequence


def read_matrix(path: Path) -> np.ndarray:
    """A whitespace-separated text matrix (ScanNet intrinsics and poses) as float64."""
    return np.loadtxt(path, dtype=np.float64).reshape(4, 4)


class ScanNetReader:
    """Scenes are the folders under ``root`` with ``color/``, ``depth/`` and ``pose/``; ``frame_step`` keeps the
    frames whose number is a multiple of it (consecutive ScanNet frames are nearly identical)."""

    def __init__(self, root: str | Path, frame_step: int = 1, units_per_metre: float = 1000.0) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"ScanNet root {self.root} does not exist")
        if frame_step < 1:
            raise ValueError(f"frame_step must be >= 1, got {frame_step}")
        self.frame_step = frame_step
        self.units_per_metre = units_per_metre
        self._scenes = sorted(
            p.name for p in self.root.iterdir() if all((p / sub).is_dir() for sub in ("color", "depth", "pose"))
        )
        self._frames: dict[str, list[str]] = {}
        self._K: dict[str, np.ndarray] = {}

    def scene_ids(self) -> list[str]:
        return list(self._scenes)

    def frame_ids(self, scene_id: str) -> list[str]:
        """Frame numbers (as strings) with colour, depth and a finite pose, in numeric order."""
        if scene_id not in self._frames:
            if scene_id not in self._scenes:
                raise KeyError(f"unknown ScanNet scene {scene_id!r} in {self.root}")
            folder = self.root / scene_id
            numbers = sorted(int(p.stem) for p in (folder / "depth").glob("*.png") if p.stem.isdigit())
            ids = []
            for n in (n for n in numbers if n % self.frame_step == 0):
                pose_path = folder / "pose" / f"{n}.txt"
                if (
                    (folder / "color" / f"{n}.jpg").exists()
                    and pose_path.exists()
                    and np.isfinite(read_matrix(pose_path)).all()
                ):
                    ids.append(str(n))
            self._frames[scene_id] = ids
        return self._frames[scene_id]

    def intrinsics(self, scene_id: str) -> np.ndarray:
        """K [3, 3] float32 of the depth camera."""
        if scene_id not in self._K:
            self._K[scene_id] = read_matrix(self.root / scene_id / "intrinsic" / "intrinsic_depth.txt")[:3, :3].astype(
                np.float32
            )
        return self._K[scene_id]

    def load(self, scene_id: str, frame_id: str) -> Frame:
        folder = self.root / scene_id
        depth = read_depth_png(folder / "depth" / f"{frame_id}.png", self.units_per_metre)
        H, W = depth.shape
        image = read_rgb(folder / "color" / f"{frame_id}.jpg", size=(W, H))
        pose = read_matrix(folder / "pose" / f"{frame_id}.txt").astype(np.float32)
        return Frame(image, depth, self.intrinsics(scene_id).copy(), pose, scene_id, frame_id)

    def frames(self, scene_id: str) -> FrameSequence:
        return FrameSequence(self.frame_ids(scene_id), lambda fid: self.load(scene_id, fid))
