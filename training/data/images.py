"""Image-only folders (Places365 style: ``<root>/**/<name>.jpg``) for self-training with a teacher's depth.

Each image is its own one-frame scene. Depth is all zeros (unknown) unless a depth provider is given, e.g. a
teacher network that predicts metric depth; intrinsics follow Invisible Stitch (focal = image width, centred
principal point) and the pose is the identity.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from training.data.decode import read_rgb
from training.data.frame import Frame, FrameSequence, default_intrinsics

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


class ImageFolderReader:
    """Every image file under ``root`` (recursively, sorted); scene id = path relative to ``root``."""

    def __init__(self, root: str | Path, depth_fn: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"image folder {self.root} does not exist")
        self.depth_fn = depth_fn
        self._ids = sorted(
            p.relative_to(self.root).as_posix()
            for p in self.root.rglob("*")
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        self._known = set(self._ids)

    def scene_ids(self) -> list[str]:
        return list(self._ids)

    def load(self, scene_id: str) -> Frame:
        image = read_rgb(self.root / scene_id)
        H, W = image.shape[:2]
        if self.depth_fn is None:
            depth = np.zeros((H, W), dtype=np.float32)
        else:
            depth = np.asarray(self.depth_fn(image), dtype=np.float32)
        return Frame(image, depth, default_intrinsics(H, W), np.eye(4, dtype=np.float32), scene_id, "0")

    def frames(self, scene_id: str) -> FrameSequence:
        if scene_id not in self._known:
            raise KeyError(f"unknown image {scene_id!r} in {self.root}")
        return FrameSequence(["0"], lambda _fid: self.load(scene_id))
