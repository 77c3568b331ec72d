"""Hypersim (Roberts et al. 2021) in its released layout; needs ``h5py`` (extra ``data``):

    <root>/<scene>/images/scene_cam_XX_final_hdf5/frame.IIII.color.hdf5            linear HDR RGB
    <root>/<scene>/images/scene_cam_XX_geometry_hdf5/frame.IIII.depth_meters.hdf5  distance to the camera centre
    <root>/<scene>/_detail/cam_XX/camera_keyframe_positions.hdf5     [N, 3] asset units
    <root>/<scene>/_detail/cam_XX/camera_keyframe_orientations.hdf5  [N, 3, 3] world-from-camera, camera axes
                                                                      x right, y up, z backwards (OpenGL)
    <root>/<scene>/_detail/metadata_scene.csv                        meters_per_asset_unit

A scene here is one camera trajectory (``ai_001_001/cam_00``): its frames share a world frame and form the
keyframe pairs the benchmark uses. Conversions: depth_meters is Euclidean distance along the ray, turned into
z-depth by dividing by the ray length at unit z; poses are scaled to metres and their axes flipped to OpenCV
(y down, z forward); colour is tone-mapped to uint8 (exposure set from the 90th brightness percentile, then
gamma 2.2). Intrinsics are Hypersim's standard camera (60 degree horizontal FOV, square pixels, centred); the
few scenes rendered with tilt-shift cameras (metadata_camera_parameters.csv) are not modelled.
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import numpy as np

from training.data.frame import Frame, FrameSequence

HYPERSIM_FOV_X_DEG = 60.0
_COLOR = re.compile(r"^frame\.(\d+)\.color\.hdf5$")
_CAM_DIR = re.compile(r"^scene_(cam_\d+)_final_hdf5$")
OPENGL_TO_OPENCV = np.diag([1.0, -1.0, -1.0])


def _h5py():
    try:
        import h5py
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("the Hypersim reader needs h5py: pip install 'gld8tr-3dcn[data]'") from exc
    return h5py


def read_hdf5(path: Path) -> np.ndarray:
    """The ``dataset`` array of a Hypersim HDF5 file."""
    with _h5py().File(path, "r") as f:
        return np.asarray(f["dataset"])


def hypersim_intrinsics(height: int, width: int) -> np.ndarray:
    f = 0.5 * width / math.tan(math.radians(HYPERSIM_FOV_X_DEG) / 2)
    return np.array([[f, 0, (width - 1) / 2], [0, f, (height - 1) / 2], [0, 0, 1]], dtype=np.float32)


def distance_to_z_depth(distance: np.ndarray, K: np.ndarray) -> np.ndarray:
    """z = distance / |((u - cx) / fx, (v - cy) / fy, 1)|; NaN / non-positive distances become 0."""
    H, W = distance.shape
    v, u = np.mgrid[0:H, 0:W].astype(np.float64)
    ray_len = np.sqrt(((u - K[0, 2]) / K[0, 0]) ** 2 + ((v - K[1, 2]) / K[1, 1]) ** 2 + 1.0)
    d = np.nan_to_num(distance.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    return np.where(d > 0, d / ray_len, 0.0).astype(np.float32)


def tonemap(
    rgb: np.ndarray, valid: np.ndarray | None = None, percentile: float = 90.0, target: float = 0.8, gamma: float = 2.2
) -> np.ndarray:
    """uint8 [H, W, 3] from linear HDR: scale so the ``percentile`` brightness maps to ``target`` after gamma."""
    rgb = np.nan_to_num(rgb.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0).clip(min=0)
    brightness = rgb @ np.array([0.3, 0.59, 0.11], dtype=np.float32)
    sample = brightness[valid] if valid is not None and valid.any() else brightness.ravel()
    level = float(np.percentile(sample, percentile)) if sample.size else 0.0
    scale = target**gamma / level if level > 1e-8 else 1.0
    out = np.power(scale * rgb, 1.0 / gamma).clip(0, 1)
    return (out * 255 + 0.5).astype(np.uint8)


def meters_per_asset_unit(scene_dir: Path) -> float:
    """From ``_detail/metadata_scene.csv`` (``parameter_name,parameter_value`` rows)."""
    with open(scene_dir / "_detail" / "metadata_scene.csv", newline="") as f:
        for row in csv.reader(f):
            if len(row) >= 2 and row[0].strip() == "meters_per_asset_unit":
                return float(row[1])
    raise ValueError(f"{scene_dir}: metadata_scene.csv has no meters_per_asset_unit")


class HypersimReader:
    """Scene ids are ``<scene>/<cam_XX>``; frame ids are the 4-digit frame numbers."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"Hypersim root {self.root} does not exist")
        self._frames: dict[str, list[str]] = {}
        for scene in sorted(p for p in self.root.iterdir() if (p / "images").is_dir()):
            for cam_dir in sorted((scene / "images").iterdir()):
                m = _CAM_DIR.match(cam_dir.name)
                if not m:
                    continue
                cam = m.group(1)
                geo = scene / "images" / f"scene_{cam}_geometry_hdf5"
                ids = sorted(
                    c.group(1)
                    for f in cam_dir.iterdir()
                    if (c := _COLOR.match(f.name)) and (geo / f"frame.{c.group(1)}.depth_meters.hdf5").exists()
                )
                if ids:
                    self._frames[f"{scene.name}/{cam}"] = ids
        self._poses: dict[str, np.ndarray] = {}

    def scene_ids(self) -> list[str]:
        return list(self._frames)

    def poses(self, scene_id: str) -> np.ndarray:
        """Camera-to-world [N, 4, 4] float64 in metres and OpenCV axes, one per keyframe."""
        if scene_id not in self._poses:
            scene, cam = scene_id.split("/")
            detail = self.root / scene / "_detail" / cam
            pos = read_hdf5(detail / "camera_keyframe_positions.hdf5").astype(np.float64)
            rot = read_hdf5(detail / "camera_keyframe_orientations.hdf5").astype(np.float64)
            scale = meters_per_asset_unit(self.root / scene)
            poses = np.tile(np.eye(4), (pos.shape[0], 1, 1))
            poses[:, :3, :3] = rot @ OPENGL_TO_OPENCV
            poses[:, :3, 3] = pos * scale
            self._poses[scene_id] = poses
        return self._poses[scene_id]

    def load(self, scene_id: str, frame_id: str) -> Frame:
        scene, cam = scene_id.split("/")
        images = self.root / scene / "images"
        distance = read_hdf5(images / f"scene_{cam}_geometry_hdf5" / f"frame.{frame_id}.depth_meters.hdf5")
        H, W = distance.shape
        K = hypersim_intrinsics(H, W)
        depth = distance_to_z_depth(distance, K)
        color = read_hdf5(images / f"scene_{cam}_final_hdf5" / f"frame.{frame_id}.color.hdf5")
        image = tonemap(color, valid=depth > 0)
        pose = self.poses(scene_id)[int(frame_id)].astype(np.float32)
        return Frame(image, depth, K, pose, scene_id, frame_id)

    def frames(self, scene_id: str) -> FrameSequence:
        if scene_id not in self._frames:
            raise KeyError(f"unknown Hypersim trajectory {scene_id!r} in {self.root}")
        return FrameSequence(self._frames[scene_id], lambda fid: self.load(scene_id, fid))
