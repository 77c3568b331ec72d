"""Fly-through videos: render a scene's Gaussian splats (or its point cloud) along a camera path into an MP4.

Splats are drawn with the project's Gaussian rasteriser (gsplat on CUDA, the torch reference otherwise), point
clouds with ``core.render`` (one z-buffered disc per point, sized to its pixel footprint in the input camera).
Frames are encoded with PyAV (FFmpeg's H.264, yuv420p, so every player opens it) into a temporary file that
replaces the target only when complete (``core.io.atomic``).

Paths: ``orbit_path`` swings the camera left and right around a pivot at the scene's median depth (parallax, as
a hand-held fly-through), or any trajectory file ``core.trajectory.load_trajectory`` reads.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.camera import Camera, Intrinsics, pose_from_yaw_pitch
from core.errors import InputError

log = logging.getLogger(__name__)

DEFAULT_FPS = 24
DEFAULT_FRAMES = 72


@dataclass
class VideoScene:
    """What can be drawn: Gaussians, or points with colours (and the median depth of the content)."""

    kind: str  # "gaussians" | "points"
    gaussians: object | None = None  # core.gaussians.Gaussians
    points: torch.Tensor | None = None  # [N, 3]
    colors: torch.Tensor | None = None  # [N, 3] uint8
    point_size: float = 0.0  # metres per metre of depth (the input camera's pixel footprint)

    def median_depth(self) -> float:
        means = self.gaussians.means if self.kind == "gaussians" else self.points
        z = means[:, 2]
        z = z[z > 0]
        return float(z.median()) if len(z) else 1.0


def load_scene(path: str | Path, fov_deg: float, width: int, *, axes: str = "opencv") -> VideoScene:
    """A Gaussian file (.ply in the 3DGS layout, .splat, .spz; ``axes`` as it was written) or a point-cloud PLY."""
    from core.gaussians import FORMATS, is_gaussian_ply, load_gaussians

    p = Path(path)
    if not p.is_file():
        raise InputError(f"scene file {str(p)!r} not found")
    suffix = p.suffix.lower()
    if suffix not in FORMATS:
        raise InputError(f"scene must be a .ply, .splat or .spz file, got {p.name!r}")
    if suffix != ".ply" or is_gaussian_ply(p):
        return VideoScene("gaussians", gaussians=load_gaussians(p, axes=axes))  # type: ignore[arg-type]
    from core.io.ply import read_ply

    points, colors, _ = read_ply(p)
    if colors is None:
        colors = np.full_like(points, 200, dtype=np.uint8)
    f = Intrinsics.from_fov(width, width, fov_deg).fx
    return VideoScene("points", points=torch.from_numpy(np.asarray(points, np.float32)),
                      colors=torch.from_numpy(np.asarray(colors, np.uint8)), point_size=1.5 / f)


def orbit_path(
    n_frames: int, median_depth: float, *, yaw_deg: float = 12.0, pitch_deg: float = 3.0
) -> list[torch.Tensor]:
    """Camera-to-world poses swinging ``+-yaw_deg`` around a pivot ``median_depth`` ahead (one full cycle)."""
    if n_frames < 1:
        raise InputError(f"a video needs at least one frame, got {n_frames}")
    poses = []
    pivot = torch.tensor([0.0, 0.0, median_depth])
    for i in range(n_frames):
        phase = 2 * math.pi * i / n_frames
        pose = pose_from_yaw_pitch(yaw_deg * math.sin(phase), pitch_deg * math.sin(2 * phase))
        pose[:3, 3] = pivot - pose[:3, 2] * median_depth
        poses.append(pose)
    return poses


def interpolate_path(poses: Sequence[torch.Tensor], n_frames: int) -> list[torch.Tensor]:
    """``n_frames`` poses along a trajectory's key poses (linear positions, normalised-lerp rotations)."""
    from core.gaussians.model import quat_to_rotmat, rotmat_to_quat

    if len(poses) == 1 or n_frames <= len(poses):
        return [p.float() for p in poses]
    keys = torch.stack([p.float() for p in poses])
    quats = rotmat_to_quat(keys[:, :3, :3])
    for i in range(1, len(quats)):  # shortest arc between neighbours
        if float((quats[i] * quats[i - 1]).sum()) < 0:
            quats[i] = -quats[i]
    out = []
    for t in np.linspace(0, len(poses) - 1, n_frames):
        i = min(int(t), len(poses) - 2)
        a = float(t - i)
        q = (1 - a) * quats[i] + a * quats[i + 1]
        pose = torch.eye(4)
        pose[:3, :3] = quat_to_rotmat(q[None])[0]
        pose[:3, 3] = (1 - a) * keys[i, :3, 3] + a * keys[i + 1, :3, 3]
        out.append(pose)
    return out


def frame_renderer(scene: VideoScene, device: str) -> Callable[[Camera], np.ndarray]:
    """A function camera -> uint8 [H, W, 3] frame."""
    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                       ("cpu" if device == "auto" else device))
    if scene.kind == "gaussians":
        from core.gaussians.fit import pick_renderer

        _, render = pick_renderer("auto", dev)
        g = scene.gaussians.to(dev)

        @torch.no_grad()
        def draw(cam: Camera) -> np.ndarray:
            img = render(g, cam).image.clamp(0, 1)
            return (img * 255 + 0.5).to(torch.uint8).cpu().numpy()

        return draw
    from core.render import render_points, splat_radius_px

    pts, cols = scene.points.to(dev), scene.colors.to(dev)

    @torch.no_grad()
    def draw_points(cam: Camera) -> np.ndarray:
        intr = cam.intrinsics
        w2c = cam.world_to_cam().to(dev)
        z = pts @ w2c[2, :3] + w2c[2, 3]
        radius = splat_radius_px(scene.point_size * z.clamp_min(1e-3), z.clamp_min(1e-3), intr.fx)
        out = render_points(pts, cols, intr.matrix(device=dev), w2c, intr.height, intr.width, radius_px=radius)
        return out.image.cpu().numpy()

    return draw_points


def check_video_path(path: str | Path, what: str = "video output") -> Path:
    """``path`` as a Path if it names an MP4 (the only container written), else an InputError naming ``what``."""
    out = Path(path)
    if out.suffix.lower() != ".mp4":
        raise InputError(f"{what} must end in .mp4, got {out.name!r}")
    return out


def render_video(
    scene: VideoScene, poses: Sequence[torch.Tensor], intrinsics: Intrinsics, output: str | Path, *,
    fps: int = DEFAULT_FPS, device: str = "auto", progress: bool = False,
    on_frame: Callable[[int, int], None] | None = None,
) -> dict[str, object]:
    """Render every pose and encode an H.264 MP4 at ``output`` (written atomically); returns a summary.

    ``on_frame(done, total)`` is called after each frame (progress reports; it may raise to stop, and then no
    file is left behind)."""
    import time

    from tqdm import tqdm

    from core.io.atomic import atomic_path

    try:
        import av
    except ImportError as exc:  # pragma: no cover - the video extra
        raise InputError("video output needs PyAV: pip install 'gld8tr-3dcn[video]' (or pip install av)") from exc
    out = check_video_path(output)
    if intrinsics.width % 2 or intrinsics.height % 2:
        raise InputError(f"H.264 needs even frame sizes, got {intrinsics.width}x{intrinsics.height}")
    draw = frame_renderer(scene, device)
    t0 = time.perf_counter()
    with atomic_path(out) as tmp, av.open(str(tmp), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = intrinsics.width, intrinsics.height, "yuv420p"
        for i, pose in enumerate(tqdm(poses, desc="video", unit="frame", disable=not progress)):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(draw(Camera(intrinsics, pose))), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
            if on_frame is not None:
                on_frame(i + 1, len(poses))
        for packet in stream.encode():
            container.mux(packet)
    seconds = time.perf_counter() - t0
    log.info("video -> %s: %d frames %dx%d at %d fps (%s) in %.1f s", out, len(poses), intrinsics.width,
             intrinsics.height, fps, scene.kind, seconds)
    return {"path": out.name, "frames": len(poses), "width": intrinsics.width, "height": intrinsics.height,
            "fps": fps, "source": scene.kind, "seconds": round(seconds, 2)}


VIDEO_MAX_SIDE = 512
"""Scene videos (``gld8tr run --video``, the service's ``video.mp4``) are at most this many pixels on a side."""


def video_intrinsics(input_camera: Intrinsics, max_side: int = VIDEO_MAX_SIDE) -> Intrinsics:
    """The input camera's field of view at a video size: at most ``max_side`` pixels on a side, both sides even
    (H.264 in yuv420p needs them even)."""
    scale = min(1.0, max_side / max(input_camera.width, input_camera.height))
    width = max(2, 2 * round(input_camera.width * scale / 2))
    height = max(2, 2 * round(input_camera.height * scale / 2))
    return Intrinsics.from_focal(width, height, input_camera.fx * width / input_camera.width)


def write_scene_video(
    source: str | Path, output: str | Path, input_camera: Intrinsics, *, frames: int = DEFAULT_FRAMES,
    fps: int = DEFAULT_FPS, axes: str = "opencv", device: str = "auto", progress: bool = False,
    on_frame: Callable[[int, int], None] | None = None,
) -> dict[str, object]:
    """An orbit fly-through of a written scene file (Gaussians, or the point cloud) seen through the input
    camera's lens: what ``gld8tr run --video`` and the service's ``video.mp4`` output make."""
    intr = video_intrinsics(input_camera)
    fov_deg = math.degrees(2 * math.atan(intr.width / (2 * intr.fx)))
    scene = load_scene(source, fov_deg, intr.width, axes=axes)
    poses = orbit_path(frames, scene.median_depth())
    return render_video(scene, poses, intr, output, fps=fps, device=device, progress=progress, on_frame=on_frame)
