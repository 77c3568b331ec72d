"""3D Ken Burns (Niklaus et al. 2019) synthetic frames in the layout the dataset is released in:

    <root>/<scene>/<N>-meta.json              {"fltFov": degrees, ...}: the field of view of the larger side
    <root>/<scene>/<N>-<view>-image.png       colour, views tl, tr, bl, br
    <root>/<scene>-depth/<N>-<view>-depth.exr depth, one channel, millimetres (public loaders divide by 1000)

Scenes are folders named like ``asdf-flying`` with a sibling ``asdf-flying-depth``. The principal point is the
image centre, pixels are square and the FOV spans the larger image side (focal = max(H, W) / 2 / tan(fov / 2)),
as the dataset's own code computes it. Poses are not released per view: every frame gets the identity pose (a
single-view reader: depth training, camera recovery). Depth beyond ``max_depth`` (sky at "infinity") is 0.
EXR decoding needs the ``OpenEXR`` package (extra ``data``).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np

from training.data.decode import read_rgb
from training.data.frame import Frame, FrameSequence

VIEWS = ("tl", "tr", "bl", "br")
_META = re.compile(r"^(\d+)-meta\.json$")


def read_exr_depth(path: str | Path) -> np.ndarray:
    """float32 [H, W] from a one-channel EXR (channel ``Z``, ``Y``, ``R`` or the only one present)."""
    import OpenEXR

    with OpenEXR.File(str(path)) as f:  # pixels must be read while the file is open
        channels = {name: np.asarray(ch.pixels, dtype=np.float32) for name, ch in f.channels().items()}
    for name in ("Z", "Y", "R", "depth", "Depth"):
        if name in channels:
            return channels[name].copy()
    if len(channels) == 1:
        arr = next(iter(channels.values()))
        return (arr if arr.ndim == 2 else arr[..., 0]).copy()
    raise ValueError(f"{path}: no depth channel among {sorted(channels)}")


def focal_from_fov(fov_deg: float, height: int, width: int) -> float:
    """Focal in pixels for a FOV across the larger image side (the 3D Ken Burns convention)."""
    if not 0 < fov_deg < 180:
        raise ValueError(f"field of view must lie in (0, 180) degrees, got {fov_deg!r}")
    return 0.5 * max(height, width) / math.tan(math.radians(fov_deg) / 2)


class KenBurnsReader:
    """Scenes are the folders with a ``-depth`` sibling; frame ids are ``<N>-<view>``."""

    def __init__(self, root: str | Path, *, depth_units_per_metre: float = 1000.0, max_depth: float = 60.0) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"3D Ken Burns root {self.root} does not exist")
        self.units = depth_units_per_metre
        self.max_depth = max_depth
        self._scenes = sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.endswith("-depth")
                              and (self.root / f"{p.name}-depth").is_dir())

    def scene_ids(self) -> list[str]:
        return list(self._scenes)

    def frame_ids(self, scene_id: str) -> list[str]:
        if scene_id not in self._scenes:
            raise KeyError(f"unknown 3D Ken Burns scene {scene_id!r} in {self.root}")
        folder, depth_dir = self.root / scene_id, self.root / f"{scene_id}-depth"
        ids = []
        for meta in sorted(folder.glob("*-meta.json")):
            m = _META.match(meta.name)
            if m is None:
                continue
            for view in VIEWS:
                n = m.group(1)
                if (folder / f"{n}-{view}-image.png").exists() and (depth_dir / f"{n}-{view}-depth.exr").exists():
                    ids.append(f"{n}-{view}")
        return ids

    def fov_deg(self, scene_id: str, number: str) -> float:
        meta = json.loads((self.root / scene_id / f"{number}-meta.json").read_text())
        if "fltFov" not in meta:
            raise ValueError(f"{scene_id}/{number}-meta.json has no 'fltFov' (keys: {sorted(meta)})")
        return float(meta["fltFov"])

    def load(self, scene_id: str, frame_id: str) -> Frame:
        number, view = frame_id.split("-")
        depth = read_exr_depth(self.root / f"{scene_id}-depth" / f"{number}-{view}-depth.exr") / self.units
        depth = np.where(np.isfinite(depth) & (depth > 0) & (depth < self.max_depth), depth, 0).astype(np.float32)
        H, W = depth.shape
        image = read_rgb(self.root / scene_id / f"{number}-{view}-image.png", size=(W, H))
        f = focal_from_fov(self.fov_deg(scene_id, number), H, W)
        K = np.array([[f, 0, (W - 1) / 2], [0, f, (H - 1) / 2], [0, 0, 1]], dtype=np.float32)
        return Frame(image=image, depth=depth, K=K, cam_to_world=np.eye(4, dtype=np.float32), scene_id=scene_id,
                     frame_id=frame_id)

    def frames(self, scene_id: str) -> FrameSequence:
        return FrameSequence(self.frame_ids(scene_id), lambda fid: self.load(scene_id, fid))
