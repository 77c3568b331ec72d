"""``gld8tr run``: one photo (+ prompt) -> a coloured point cloud (PLY + sidecar JSON).

A thin caller of :func:`core.pipeline.generate_scene` and :func:`core.outputs.write_outputs` (the same writer
as the service worker); everything it knows about scenes lives there. Light to import: torch and the pipeline
load inside :func:`main`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from gld8tr.threads_option import add_threads_argument, apply_threads_argument

log = logging.getLogger("gld8tr.run")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--image", required=True, help="input photo (JPEG, PNG, WebP, ...)")
    parser.add_argument("--prompt", default="", help="text describing the scene (used by prompt-aware inpainters)")
    parser.add_argument("--output_path", "--output-path", "-o", dest="output_path", default="outputs/scene.ply",
                        help="PLY to write; a sidecar JSON with the same stem goes beside it")
    parser.add_argument("--mode", default="stage", help="single | stage | 360 (ignored with --trajectory)")
    parser.add_argument("--trajectory", default=None,
                        help="JSON file: list of 4x4 camera-to-world poses or yaw/pitch/translation steps")
    parser.add_argument("--depth", default=None,
                        help="RGB-D input: depth of the photo (16-bit PNG millimetres, .npy or .pfm metres)")
    parser.add_argument("--fov", default=None,
                        help="horizontal field of view in degrees (default 53.13), or 'auto' to estimate it from the "
                        "first view's depth (and remove a relative depth model's shift); the sidecar records it")
    parser.add_argument("--camera-method", dest="camera_method", default="auto",
                        choices=["auto", "module", "module+refine", "geometric"],
                        help="how --fov auto estimates the camera: the trained point-cloud module, the module refined "
                        "by the geometric search, or the geometric planarity/orthogonality search alone; 'auto' "
                        "(default) = module+refine for a measured --depth, module for predicted depth (docs/CAMERA.md)")
    parser.add_argument("--camera-model", dest="camera_model", default=None, metavar="DIR",
                        help="camera-module checkpoint for --fov auto (default: core/weights/gld8tr-camera)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--inpainter", default="patchmatch", help="inpainter spec (patchmatch, diffusers:ID, ...)")
    parser.add_argument("--depth-model", dest="depth_model", default="gld8tr",
                        help="depth completer spec (gld8tr, ckpt:DIR, aligned-mono:..., laplacian, nearest)")
    parser.add_argument("--save-views", dest="save_views", default=None, metavar="DIR",
                        help="also write every view (image, inpaint mask, 16-bit depth) as PNGs into DIR")
    parser.add_argument("--max-side", dest="max_side", type=int, default=512,
                        help="downscale photos whose longer side exceeds this many pixels (0 = keep native size)")
    parser.add_argument("--low-vram", dest="low_vram", action="store_true",
                        help="keep idle models on the CPU (diffusers: model CPU offload + attention slicing); "
                             "slower, for ~12 GB GPUs")
    add_threads_argument(parser)
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bar")
    parser.add_argument("--mesh", default=None, metavar="OUT.glb",
                        help="also fuse the views' depths into a coloured triangle mesh (.glb or .ply)")
    parser.add_argument("--video", default=None, metavar="OUT.mp4",
                        help="also render an orbit fly-through MP4 of the Gaussians (with --gaussians) or the points")
    parser.add_argument("--video-frames", dest="video_frames", type=int, default=72,
                        help="frames of the --video orbit (default 72: 3 s at 24 fps)")
    parser.add_argument("--gaussians", default=None, metavar="OUT.ply",
                        help="also make 3D Gaussians of the views and write them (.ply 3DGS layout, .splat or .spz)")
    parser.add_argument("--gs-method", dest="gs_method", choices=["auto", "feedforward", "fit"], default=None,
                        help="feedforward: one splatter-network pass per view (about a CPU-second); fit: optimise "
                             "Gaussians against the views (minutes on a CPU, sharper); auto (default): feedforward "
                             "on the CPU, fit on CUDA")
    parser.add_argument("--gs-init", dest="gs_init", choices=["points", "feedforward"], default="points",
                        help="where --gs-method fit starts: the point cloud or the feed-forward splats")
    parser.add_argument("--gs-checkpoint", dest="gs_checkpoint", default=None, metavar="DIR",
                        help="splatter checkpoint folder (default: the shipped core/weights/gld8tr-splatter)")
    parser.add_argument("--gs-color-solve", dest="gs_color_solve", type=int, default=None, metavar="STEPS",
                        help="feed-forward splats: conjugate-gradient steps of the closed-form colour solve that "
                             "undoes the render's blur on the views (default 4; 0 keeps the network's colours)")
    parser.add_argument("--gs-iters", dest="gs_iters", type=int, default=None,
                        help="Gaussian fitting iterations (default: 1000 on CUDA, 300 on CPU)")
    parser.add_argument("--gs-axes", dest="gs_axes", choices=["opencv", "opengl"], default="opencv",
                        help="frame of the Gaussian file: opencv (project frame) or opengl (y and z negated)")


def main(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from core.errors import InputError
    from core.outputs import write_outputs
    from core.pipeline import GenerationSettings, generate_scene

    t0 = time.perf_counter()
    output = Path(args.output_path)
    _check_output(output, InputError)
    if args.gaussians:
        from core.gaussians import FORMATS

        if Path(args.gaussians).suffix.lower() not in FORMATS:
            raise InputError(f"--gaussians must name a {', '.join(FORMATS)} file, got {args.gaussians}")
    if args.mesh:
        from core.mesh.io import check_mesh_path

        check_mesh_path(args.mesh)
    if args.video:
        from core.video import check_video_path

        check_video_path(args.video, "--video")
        if args.video_frames < 1:
            raise InputError(f"--video-frames must be at least 1, got {args.video_frames}")
    if args.max_side < 0:
        raise InputError(f"--max-side must be >= 0, got {args.max_side}")
    if args.gs_color_solve is not None and args.gs_color_solve < 0:
        raise InputError(f"--gs-color-solve must be >= 0, got {args.gs_color_solve}")
    from core.pipeline import parse_fov

    fov = parse_fov(args.fov)
    settings = GenerationSettings(max_side=args.max_side or None, camera_method=args.camera_method,
                                  camera_model=args.camera_model)
    apply_threads_argument(args.threads)

    bars: list[tqdm] = []  # created at the first progress report, so input errors print nothing but themselves

    def on_progress(stage: str, done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(total=total, desc="views", unit="view", disable=not args.progress, file=sys.stderr,
                             leave=False))
        bars[0].total = total
        bars[0].n = done
        bars[0].refresh()

    try:
        scene = generate_scene(
            args.image,
            args.prompt,
            args.mode,
            depth=args.depth,
            fov_deg=fov,
            trajectory=args.trajectory,
            inpainter=args.inpainter,
            depth_model=args.depth_model,
            device=args.device,
            seed=args.seed,
            on_progress=on_progress,
            settings=settings,
            low_vram=args.low_vram,
        )
    finally:
        for bar in bars:
            bar.close()
    try:
        written = write_outputs(scene, output, views_dir=args.save_views, gaussians_path=args.gaussians,
                                mesh_path=args.mesh, video_path=args.video, video_frames=args.video_frames,
                                gs_iters=args.gs_iters, gs_axes=args.gs_axes,
                                gs_method=args.gs_method or "auto",
                                gs_init=args.gs_init, gs_checkpoint=args.gs_checkpoint,
                                gs_color_solve=args.gs_color_solve, device=args.device,
                                seed=args.seed, progress=args.progress)
    except OSError as exc:
        raise InputError(f"cannot write {exc.filename or output}: {exc.strerror or exc}") from None
    if written.mesh is not None:
        m = written.mesh
        sys.stdout.write(f"{m['faces']:,} mesh faces (voxel {m['voxel_size']:.3f} m, {m['seconds']:.1f} s) -> "
                         f"{args.mesh}\n")
    if written.gaussians is not None:
        gs = written.gaussians
        sys.stdout.write(
            f"{gs['num_gaussians']:,} Gaussians, PSNR input {gs['psnr_input_db']:.2f} dB, views "
            f"{', '.join(f'{p:.2f}' for p in gs['psnr_views_db'])} dB -> {args.gaussians}\n"
        )
    if written.video is not None:
        v = written.video
        sys.stdout.write(f"{v['frames']} video frames {v['width']}x{v['height']} ({v['source']}, {v['seconds']:.1f} s)"
                         f" -> {args.video}\n")
    stages = ", ".join(f"{k} {v:.2f}s" for k, v in scene.timings.items() if k != "total")
    log.info("timings: %s", stages)
    if scene.peak_memory_mb:
        peaks = ", ".join(f"{k} {v:.0f}" for k, v in scene.peak_memory_mb.items())
        log.info("peak memory MiB (%s): %s", scene.meta.get("peak_memory_kind", ""), peaks)
    seconds = time.perf_counter() - t0
    sys.stdout.write(
        f"{scene.num_points:,} points, {len(scene.cameras)} views, {seconds:.1f} s -> {output}\n"
    )
    return 0


def _check_output(output: Path, error: type[Exception]) -> None:
    """Fail before the slow work if the result could not be written."""
    if output.suffix.lower() != ".ply":
        raise error(f"--output_path must end in .ply (the sidecar goes beside it as .json), got {output}")
    if output.is_dir():
        raise error(f"--output_path {output} is a directory; give a file name such as {output / 'scene.ply'}")
    parent = output.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise error(f"--output_path {output}: {parent} is not a writable directory")
