"""TUM RGB-D and ICL-NUIM (its TUM-compatible release) sequences:

    <root>/<sequence>/rgb.txt            "timestamp rgb/<t>.png" lines ("#" comments)
    <root>/<sequence>/depth.txt          "timestamp depth/<t>.png" lines; PNG uint16, 5000 units per metre, 0 = none
    <root>/<sequence>/groundtruth.txt    "timestamp tx ty tz qx qy qz qw" (camera-to-world, metres)

``root`` may also be one sequence folder itself. Each colour frame is associated with the depth and the pose of
the nearest timestamps (within ``max_dt`` seconds, 0.02 by default as TUM's ``associate.py``). TUM intrinsics
depend on the sensor, named in the folder (``freiburg1/2/3``; the ROS default otherwise). ICL-NUIM renders with
fx 481.20, fy -480.00: the negative focal flips y, i.e. its camera and world frames are mirrored in y against
OpenCV; :class:`ICLNUIMReader` uses fy = +480 and conjugates every pose by diag(1, -1, 1), which gives proper
rotations in the y-mirrored world (meshes come out in that frame; mirror y to compare with ICL's own models).

``strict=True`` (what ``gld8tr reconstruct`` uses) turns every gap into an :class:`core.errors.InputError`
naming the file: a colour frame without a pose or depth, a non-finite pose, a listed image that does not exist.
``strict=False`` (training) skips such frames.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.errors import InputError
from training.data.decode import read_depth_png, read_rgb
from training.data.frame import Frame, FrameSequence

TUM_INTRINSICS = {
    "freiburg1": (517.3, 516.5, 318.6, 255.3),
    "freiburg2": (520.9, 521.0, 325.1, 249.7),
    "freiburg3": (535.4, 539.2, 320.1, 247.6),
    "ros": (525.0, 525.0, 319.5, 239.5),
}
ICL_INTRINSICS = (481.20, 480.00, 319.5, 239.5)  # fy is -480 in the release; see the module docstring
DEPTH_UNITS_PER_METRE = 5000.0
_MIRROR_Y = np.diag([1.0, -1.0, 1.0, 1.0])


def read_list(path: Path) -> list[tuple[float, list[str]]]:
    """``timestamp rest...`` lines of a TUM text file (comments and blank lines skipped)."""
    if not path.is_file():
        raise InputError(f"{path} is missing")
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        try:
            rows.append((float(parts[0]), parts[1:]))
        except ValueError as exc:
            raise InputError(f"{path}:{n}: expected 'timestamp ...', got {line!r}") from exc
    return rows


def pose_from_tum(values: list[str], where: str) -> np.ndarray:
    """``tx ty tz qx qy qz qw`` -> camera-to-world [4, 4] float64."""
    if len(values) != 7:
        raise InputError(f"{where}: a pose needs 7 numbers (tx ty tz qx qy qz qw), got {len(values)}")
    try:
        tx, ty, tz, qx, qy, qz, qw = (float(v) for v in values)
    except ValueError as exc:
        raise InputError(f"{where}: pose values must be numbers, got {values}") from exc
    q = np.array([qw, qx, qy, qz])
    if not np.isfinite(q).all() or not np.isfinite([tx, ty, tz]).all():
        raise InputError(f"{where}: non-finite pose {values}")
    n = np.linalg.norm(q)
    if n < 1e-6:
        raise InputError(f"{where}: zero quaternion")
    w, x, y, z = q / n
    R = np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])
    pose = np.eye(4)
    pose[:3, :3], pose[:3, 3] = R, (tx, ty, tz)
    return pose


def nearest(times: np.ndarray, t: float) -> int:
    """Index of the entry of sorted ``times`` closest to ``t``."""
    i = int(np.searchsorted(times, t))
    cands = [j for j in (i - 1, i) if 0 <= j < len(times)]
    return min(cands, key=lambda j: abs(times[j] - t))


def is_tum_sequence(folder: Path) -> bool:
    return (folder / "rgb.txt").is_file()


class TUMReader:
    """Sequences under ``root`` (or ``root`` itself); frames at the depth camera's 640x480 with its intrinsics."""

    intrinsics_table = TUM_INTRINSICS

    def __init__(self, root: str | Path, *, strict: bool = False, max_dt: float = 0.02, frame_step: int = 1,
                 intrinsics: tuple[float, float, float, float] | None = None, require_depth: bool = True) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(f"sequence folder {self.root} does not exist")
        self.strict = strict
        self.max_dt = max_dt
        self.frame_step = max(1, int(frame_step))
        self.require_depth = require_depth
        self._intrinsics = intrinsics
        if is_tum_sequence(self.root):
            self._folders = {self.root.name: self.root}
        else:
            self._folders = {p.name: p for p in sorted(self.root.iterdir()) if p.is_dir() and is_tum_sequence(p)}
        if not self._folders:
            raise InputError(f"{self.root} holds no TUM-layout sequence (no rgb.txt)")
        self._index: dict[str, list[tuple[str, str | None, np.ndarray]]] = {}

    def scene_ids(self) -> list[str]:
        return list(self._folders)

    def camera(self, scene_id: str) -> tuple[float, float, float, float]:
        if self._intrinsics is not None:
            return self._intrinsics
        name = scene_id.lower()
        for key, k in self.intrinsics_table.items():
            if key in name:
                return k
        return self.intrinsics_table["ros"]

    def convert_pose(self, pose: np.ndarray) -> np.ndarray:
        return pose

    def index(self, scene_id: str) -> list[tuple[str, str | None, np.ndarray]]:
        """``(rgb path, depth path or None, pose)`` per associated colour frame."""
        if scene_id in self._index:
            return self._index[scene_id]
        folder = self._folders[scene_id]
        rgb = read_list(folder / "rgb.txt")
        gt_path = folder / "groundtruth.txt"
        gt = read_list(gt_path)
        if not gt:
            raise InputError(f"{gt_path} lists no poses")
        gt_t = np.array([t for t, _ in gt])
        order = np.argsort(gt_t)
        gt_t, gt = gt_t[order], [gt[i] for i in order]
        depth_path = folder / "depth.txt"
        depth = read_list(depth_path) if (self.require_depth or depth_path.is_file()) else []
        d_t = np.array([t for t, _ in depth])
        d_order = np.argsort(d_t) if len(d_t) else np.zeros(0, int)
        d_t, depth = d_t[d_order], [depth[i] for i in d_order]
        out = []
        for t, rest in rgb[:: self.frame_step]:
            if not rest:
                raise InputError(f"{folder / 'rgb.txt'}: timestamp {t} names no image")
            g = nearest(gt_t, t)
            if abs(gt_t[g] - t) > self.max_dt:
                if self.strict:
                    raise InputError(f"{gt_path}: no pose within {self.max_dt} s of colour frame {t:.6f} ({rest[0]})")
                continue
            try:
                pose = self.convert_pose(pose_from_tum(gt[g][1], f"{gt_path} at {gt_t[g]:.6f}"))
            except InputError:
                if self.strict:
                    raise
                continue
            dfile = None
            if len(d_t):
                j = nearest(d_t, t)
                if abs(d_t[j] - t) <= self.max_dt and depth[j][1]:
                    dfile = str(folder / depth[j][1][0])
            if dfile is None and self.require_depth:
                if self.strict:
                    raise InputError(f"{depth_path}: no depth within {self.max_dt} s of colour frame {t:.6f}")
                continue
            image = folder / rest[0]
            for p in (image, Path(dfile) if dfile else None):
                if p is not None and self.strict and not p.is_file():
                    raise InputError(f"{p} is listed but missing")
            out.append((str(image), dfile, pose))
        if not out:
            raise InputError(f"{folder}: no colour frame could be associated with a pose"
                             + (" and a depth" if self.require_depth else ""))
        self._index[scene_id] = out
        return out

    def K(self, scene_id: str, width: int = 640, height: int = 480) -> np.ndarray:
        """Intrinsics for frames of ``width`` x ``height`` (the tables hold the sensors' 640x480; downscaled copies
        of a sequence get them rescaled, pixel centres kept at integers)."""
        fx, fy, cx, cy = self.camera(scene_id)
        sx, sy = width / 640.0, height / 480.0
        return np.array([[fx * sx, 0, (cx + 0.5) * sx - 0.5], [0, fy * sy, (cy + 0.5) * sy - 0.5], [0, 0, 1]],
                        np.float32)

    def load(self, scene_id: str, i: int) -> Frame:
        image_path, depth_path, pose = self.index(scene_id)[i]
        try:
            image = read_rgb(image_path)
        except (OSError, ValueError) as exc:
            raise InputError(f"{image_path}: unreadable image ({exc})") from exc
        H, W = image.shape[:2]
        if depth_path is not None:
            try:
                depth = read_depth_png(depth_path, DEPTH_UNITS_PER_METRE)
            except (OSError, ValueError) as exc:
                raise InputError(f"{depth_path}: unreadable depth PNG ({exc})") from exc
            if depth.shape != (H, W):
                raise InputError(f"{depth_path}: depth is {depth.shape[::-1]} but the colour image is {(W, H)}")
        else:
            depth = np.zeros((H, W), np.float32)
        return Frame(image, depth, self.K(scene_id, W, H), pose.astype(np.float32), scene_id, str(i))

    def frames(self, scene_id: str) -> FrameSequence:
        n = len(self.index(scene_id))
        return FrameSequence([str(i) for i in range(n)], lambda fid: self.load(scene_id, int(fid)))


class ICLNUIMReader(TUMReader):
    """ICL-NUIM in its TUM-compatible layout (same files and depth scale; intrinsics fixed, y mirrored)."""

    intrinsics_table = {"ros": ICL_INTRINSICS}

    def convert_pose(self, pose: np.ndarray) -> np.ndarray:
        return _MIRROR_Y @ pose @ _MIRROR_Y
