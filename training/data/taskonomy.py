"""Taskonomy (Zamir et al. 2018) frames in the layout of its release, one folder per building:

    <root>/<building>/rgb/point_<P>_view_<V>_domain_rgb.png
    <root>/<building>/depth_zbuffer/point_<P>_view_<V>_domain_depth_zbuffer.png   uint16, 1/512 m, 65535 = none
    <root>/<building>/point_info/point_<P>_view_<V>_domain_point_info.json       {"field_of_view_rads": ...}

Pixels are square with the principal point at the centre; the field of view spans the image width (the
renders are square, so width and height agree). Poses are not converted (the JSON's Blender-convention camera
rotation is not needed by the single-view uses of this reader): every frame gets the identity pose.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np

from training.data.decode import read_depth_png, read_rgb
from training.data.frame import Frame, FrameSequence

DEPTH_UNITS_PER_METRE = 512.0
INVALID_DEPTH = 65535
_NAME = re.compile(r"^point_(\d+)_view_(\d+)_domain_depth_zbuffer\.png$")


class TaskonomyReader:
    """Buildings are the folders with ``rgb/``, ``depth_zbuffer/`` and ``point_info/``; frame ids ``<P>_<V>``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"Taskonomy root {self.root} does not exist")
        self._scenes = sorted(p.name for p in self.root.iterdir()
                              if all((p / sub).is_dir() for sub in ("rgb", "depth_zbuffer", "point_info")))

    def scene_ids(self) -> list[str]:
        return list(self._scenes)

    def frame_ids(self, scene_id: str) -> list[str]:
        if scene_id not in self._scenes:
            raise KeyError(f"unknown Taskonomy building {scene_id!r} in {self.root}")
        b = self.root / scene_id
        ids = []
        for p in sorted((b / "depth_zbuffer").iterdir()):
            m = _NAME.match(p.name)
            if m and (b / "rgb" / self._name(m.group(1), m.group(2), "rgb", "png")).exists() and (
                    b / "point_info" / self._name(m.group(1), m.group(2), "point_info", "json")).exists():
                ids.append(f"{m.group(1)}_{m.group(2)}")
        return ids

    @staticmethod
    def _name(point: str, view: str, domain: str, ext: str) -> str:
        return f"point_{point}_view_{view}_domain_{domain}.{ext}"

    def load(self, scene_id: str, frame_id: str) -> Frame:
        point, view = frame_id.split("_")
        b = self.root / scene_id
        raw_path = b / "depth_zbuffer" / self._name(point, view, "depth_zbuffer", "png")
        depth = read_depth_png(raw_path, DEPTH_UNITS_PER_METRE)
        depth[depth >= INVALID_DEPTH / DEPTH_UNITS_PER_METRE - 1e-6] = 0
        H, W = depth.shape
        info = json.loads((b / "point_info" / self._name(point, view, "point_info", "json")).read_text())
        if "field_of_view_rads" not in info:
            raise ValueError(f"{scene_id} {frame_id}: point_info has no 'field_of_view_rads'")
        fov = float(info["field_of_view_rads"])
        if not 0 < fov < math.pi:
            raise ValueError(f"{scene_id} {frame_id}: field_of_view_rads {fov} is not in (0, pi)")
        f = 0.5 * W / math.tan(fov / 2)
        K = np.array([[f, 0, (W - 1) / 2], [0, f, (H - 1) / 2], [0, 0, 1]], dtype=np.float32)
        image = read_rgb(b / "rgb" / self._name(point, view, "rgb", "png"), size=(W, H))
        return Frame(image=image, depth=depth, K=K, cam_to_world=np.eye(4, dtype=np.float32), scene_id=scene_id,
                     frame_id=frame_id)

    def frames(self, scene_id: str) -> FrameSequence:
        return FrameSequence(self.frame_ids(scene_id), lambda fid: self.load(scene_id, fid))
