"""``gld8tr reconstruct``: a posed image sequence (ScanNet export, TUM RGB-D, ICL-NUIM) to a mesh (GLB / PLY).

    gld8tr reconstruct --frames data/rgbd_dataset_freiburg1_desk --format tum --out desk.glb --use-depth
    gld8tr reconstruct --frames data/scene0000_00 --format scannet --out room.glb       # depth from the network

Without ``--use-depth`` every frame's depth comes from ``--depth-model`` by frame-to-frame completion (conditioned
on what the reconstruction already has; scale from the poses). ``--refiner shipped`` runs the learned volumetric
refiner over the fused volume and the frames' back-projected colours (opt-in: on held-out synthetic sequences it
beats plain fusion of predicted depth, F@5cm 0.35 against 0.06, but costs minutes on a CPU; useless with
``--use-depth``, whose plain fusion is near exact).
Nothing is written unless the whole reconstruction succeeds; bad input stops with an error naming the file.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

log = logging.getLogger("gld8tr.reconstruct")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frames", required=True, help="sequence folder")
    parser.add_argument("--format", required=True, dest="fmt", help="scannet | tum | icl")
    parser.add_argument("--out", required=True, help="output mesh (.glb or .ply); a .json report goes beside it")
    parser.add_argument("--use-depth", action="store_true", help="fuse the sequence's own depth (sensor)")
    parser.add_argument("--depth-model", default="gld8tr", help="depth-completer spec when not --use-depth")
    parser.add_argument("--refiner", default="none",
                        help="learned volumetric refiner: none (default: plain fusion), shipped (better without "
                        "--use-depth, minutes on a CPU; core/weights/gld8tr-recon/MODEL_CARD.md), or a checkpoint "
                        "folder")
    parser.add_argument("--voxel-size", type=float, default=None, help="metres (default: from the scene extent, "
                        "or the refiner's training voxel size)")
    parser.add_argument("--frame-step", type=int, default=1, help="use every N-th frame")
    parser.add_argument("--max-frames", type=int, default=0, help="at most N frames (0 = all)")
    parser.add_argument("--max-side", type=int, default=0, help="resize frames to this long side (0 = native)")
    parser.add_argument("--fusion", choices=["torch", "open3d"], default="torch", help="TSDF backend")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--skip-invalid-poses", action="store_true",
                        help="skip frames without a usable pose instead of stopping")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")


def main(args: argparse.Namespace) -> int:
    import torch

    from core.errors import InputError
    from core.io.atomic import atomic_path
    from core.mesh.io import check_mesh_path, write_mesh
    from core.mesh.reconstruct import reconstruct_mesh
    from training.data.sequences import open_sequence

    t0 = time.perf_counter()
    out = check_mesh_path(args.out)
    if args.frame_step < 1 or args.max_frames < 0 or args.max_side < 0:
        raise InputError("--frame-step must be >= 1, --max-frames and --max-side >= 0")
    if args.voxel_size is not None and not args.voxel_size > 0:
        raise InputError(f"--voxel-size must be positive, got {args.voxel_size}")
    if args.threads:
        torch.set_num_threads(args.threads)
    seq = open_sequence(args.frames, args.fmt, use_depth=args.use_depth, frame_step=args.frame_step,
                        skip_invalid_poses=args.skip_invalid_poses)
    n = len(seq) if not args.max_frames else min(len(seq), args.max_frames)
    frames = []
    for i in range(n):
        f = seq[i]
        if args.max_side and max(f.height, f.width) > args.max_side:
            s = args.max_side / max(f.height, f.width)
            f = f.resized(round(f.height * s), round(f.width * s))
        frames.append(f)
    log.info("%d frames of %s (%s), %dx%d", len(frames), args.frames, args.fmt, frames[0].width, frames[0].height)

    completer = refiner = None
    if not args.use_depth:
        from core.backends.registry import build_depth_completer

        completer = build_depth_completer(args.depth_model, device=args.device)
    if args.refiner != "none":
        from core.mesh.refine import SHIPPED_RECON_DIR, VolumeRefineNet

        path = SHIPPED_RECON_DIR if args.refiner == "shipped" else Path(args.refiner)
        try:
            refiner = VolumeRefineNet.from_pretrained(path, device=args.device)
        except FileNotFoundError as exc:
            raise InputError(str(exc)) from None
    result = reconstruct_mesh(
        [f.image for f in frames], [f.K for f in frames], [f.cam_to_world for f in frames],
        [f.depth for f in frames] if args.use_depth else None,
        completer=completer, voxel_size=args.voxel_size, refiner=refiner, backend=args.fusion, device=args.device,
    )
    if result.mesh.is_empty:
        raise InputError(f"{args.frames}: the fused volume holds no surface (check the depth and the poses)")
    write_mesh(out, result.mesh)
    report = {"frames": len(frames), "format": args.fmt, "use_depth": args.use_depth, "voxel_size": result.voxel_size,
              "refiner": None if refiner is None else str(args.refiner), "timings": result.timings,
              "stats": result.stats}
    with atomic_path(out.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(report, indent=2))
    sys.stdout.write(f"{len(result.mesh.faces):,} faces, {len(frames)} frames, voxel {result.voxel_size:.3f} m, "
                     f"{time.perf_counter() - t0:.1f} s -> {out}\n")
    return 0
