"""Write synthetic posed sequences in the exact on-disk layouts of TUM RGB-D, ICL-NUIM and ScanNet exports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from core.camera import Intrinsics, look_at
from training.data.decode import write_depth_png
from training.synth.layouts import PrimitiveBuilder, empty_room
from training.synth.scene import SyntheticScene

W, H = 64, 48


def small_room() -> SyntheticScene:
    b = PrimitiveBuilder()
    m = b.material_default()
    empty_room(b, 3.0, 3.0, 2.4, m)
    b.box([0.6, -0.35, 0.4], [0.3, 0.35, 0.25], m, yaw=0.4)
    b.sphere([-0.5, -0.3, -0.4], 0.3, m)
    return SyntheticScene.from_builder(b)


def path_poses(n: int) -> list[np.ndarray]:
    poses = []
    for k in range(n):
        a = 2 * np.pi * k / n
        eye = torch.tensor([0.2 * np.cos(a), -1.1, 0.2 * np.sin(a)])
        target = torch.tensor([1.5 * np.cos(a + 0.6), -0.7, 1.5 * np.sin(a + 0.6)])
        poses.append(look_at(eye, target).numpy().astype(np.float64))
    return poses


def quat_from_matrix(R: np.ndarray) -> tuple[float, float, float, float]:
    """(qx, qy, qz, qw) of a rotation matrix."""
    from scipy.spatial.transform import Rotation

    return tuple(float(v) for v in Rotation.from_matrix(R).as_quat())


def sensor_K(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """A 640x480 sensor's intrinsics rescaled to the fixture's W x H (as the TUM reader rescales them)."""
    sx, sy = W / 640.0, H / 480.0
    return np.array([[fx * sx, 0, (cx + 0.5) * sx - 0.5], [0, fy * sy, (cy + 0.5) * sy - 0.5], [0, 0, 1]])


def write_tum(root: Path, scene: SyntheticScene, n: int = 6, K: np.ndarray | None = None,
              fy_sign: float = 1.0) -> list[np.ndarray]:
    """A TUM-layout sequence; ``fy_sign=-1`` writes it as ICL-NUIM does (its poses in the y-mirrored frame).
    Returns the OpenCV camera-to-world poses the frames were rendered with."""
    (root / "rgb").mkdir(parents=True)
    (root / "depth").mkdir()
    if K is None:  # the ROS default camera of a TUM folder without a freiburg name, at this fixture's size
        K = sensor_K(525.0, 525.0, 319.5, 239.5)
    poses = path_poses(n)
    rgb_lines, depth_lines, gt_lines = ["# color images"], ["# depth maps"], ["# timestamp tx ty tz qx qy qz qw"]
    S = np.diag([1.0, -1.0, 1.0, 1.0])
    for i, pose in enumerate(poses):
        f = scene.render(K, pose, H, W, shadows=False)
        t = 1305031102.0 + i / 30
        Image.fromarray(f.image).save(root / "rgb" / f"{t:.6f}.png")
        write_depth_png(root / "depth" / f"{t + 0.004:.6f}.png", f.depth, 5000.0)
        rgb_lines.append(f"{t:.6f} rgb/{t:.6f}.png")
        depth_lines.append(f"{t + 0.004:.6f} depth/{t + 0.004:.6f}.png")
        stored = pose if fy_sign > 0 else S @ pose @ S
        qx, qy, qz, qw = quat_from_matrix(stored[:3, :3])
        tx, ty, tz = stored[:3, 3]
        gt_lines.append(f"{t - 0.003:.4f} {tx:.6f} {ty:.6f} {tz:.6f} {qx:.7f} {qy:.7f} {qz:.7f} {qw:.7f}")
    (root / "rgb.txt").write_text("\n".join(rgb_lines) + "\n")
    (root / "depth.txt").write_text("\n".join(depth_lines) + "\n")
    (root / "groundtruth.txt").write_text("\n".join(gt_lines) + "\n")
    return poses


def write_scannet(root: Path, scene: SyntheticScene, n: int = 6) -> list[np.ndarray]:
    for sub in ("color", "depth", "pose", "intrinsic"):
        (root / sub).mkdir(parents=True)
    K = Intrinsics.from_fov(W, H, 70.0).matrix().numpy()
    K4 = np.eye(4)
    K4[:3, :3] = K
    np.savetxt(root / "intrinsic" / "intrinsic_depth.txt", K4)
    np.savetxt(root / "intrinsic" / "intrinsic_color.txt", K4)
    poses = path_poses(n)
    for i, pose in enumerate(poses):
        f = scene.render(K, pose, H, W, shadows=False)
        Image.fromarray(f.image).save(root / "color" / f"{i}.jpg", quality=95)
        write_depth_png(root / "depth" / f"{i}.png", f.depth, 1000.0)
        np.savetxt(root / "pose" / f"{i}.txt", pose)
    return poses
