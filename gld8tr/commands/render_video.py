"""``gld8tr render-video``: a fly-through MP4 of a scene's splats (or points) along an orbit or a trajectory file.

    gld8tr render-video outputs/scene_gs.ply --orbit --out outputs/scene.mp4
    gld8tr render-video outputs/scene.ply --trajectory path.json --frames 120 --out outputs/walk.mp4
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from gld8tr.threads_option import add_threads_argument, apply_threads_argument

log = logging.getLogger("gld8tr.render_video")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scene", help="Gaussian file (.ply 3DGS layout, .splat, .spz) or point-cloud .ply")
    path = parser.add_mutually_exclusive_group()
    path.add_argument("--orbit", action="store_true", help="swing around the scene's median depth (the default)")
    path.add_argument("--trajectory", metavar="FILE", help="camera path JSON (the format of gld8tr run "
                      "--trajectory); key poses are interpolated to --frames")
    parser.add_argument("--out", required=True, metavar="OUT.mp4", help="the MP4 to write")
    parser.add_argument("--frames", type=int, default=72, help="number of frames (default 72)")
    parser.add_argument("--fps", type=int, default=24)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--height", type=int, default=336)
    parser.add_argument("--fov", type=float, default=None, help="horizontal field of view in degrees (default: "
                        "the scene's sidecar JSON, else 53.13)")
    parser.add_argument("--yaw", type=float, default=12.0, help="orbit half-angle in degrees")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    add_threads_argument(parser)
    parser.add_argument("--no-progress", dest="progress", action="store_false")


def sidecar_fov(scene: Path) -> float | None:
    """The field of view the scene's sidecar JSON records (written by ``gld8tr run``), if any."""
    side = scene.with_suffix(".json")
    try:
        data = json.loads(side.read_text())
    except (OSError, ValueError):
        return None
    fov = data.get("fov_deg") if isinstance(data, dict) else None
    return float(fov) if isinstance(fov, int | float) else None


def main(args: argparse.Namespace) -> int:
    from core.camera import DEFAULT_FOV_DEG, Intrinsics
    from core.errors import InputError
    from core.video import interpolate_path, load_scene, orbit_path, render_video

    if args.frames < 1 or args.fps < 1:
        raise InputError("--frames and --fps must be at least 1")
    if args.width < 2 or args.height < 2:
        raise InputError("--width and --height must be at least 2")
    apply_threads_argument(args.threads)
    scene_path = Path(args.scene)
    fov = args.fov or sidecar_fov(scene_path) or DEFAULT_FOV_DEG
    intr = Intrinsics.from_fov(args.width, args.height, fov)
    scene = load_scene(scene_path, fov, args.width)
    if args.trajectory:
        from core.trajectory import load_trajectory

        poses = interpolate_path(load_trajectory(args.trajectory), args.frames)
    else:
        poses = orbit_path(args.frames, scene.median_depth(), yaw_deg=args.yaw)
    summary = render_video(scene, poses, intr, args.out, fps=args.fps, device=args.device, progress=args.progress)
    sys.stdout.write(f"{summary['frames']} frames {summary['width']}x{summary['height']} ({summary['source']}) "
                     f"-> {args.out}\n")
    return 0
