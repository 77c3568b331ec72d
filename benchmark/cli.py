"""``gld8tr benchmark``: score depth completion against ground-truth geometry (``--task camera``: camera
recovery from one depth map, see :mod:`benchmark.camera`).

Example::

    gld8tr benchmark --task camera --dataset synthetic --limit 100 --out outputs/bench/camera-synthetic

    gld8tr benchmark --dataset synthetic --limit 50 --out outputs/benchmark/synthetic
    gld8tr benchmark --dataset middlebury --methods gld8tr,aligned-mono,nearest,laplacian,ckpt:runs/exp1/best

Writes into ``--out``: ``pairs.json`` (the manifest), ``samples/`` (each pair's task), ``pairs.csv`` (one row per
pair and method; rerunning resumes from it), ``summary.csv`` and ``summary.md`` (one row per dataset and
method) and ``error_vs_overlap.png``; the summary table is printed on stdout.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from benchmark.datasets import DATASETS
from benchmark.methods import DEFAULT_METHODS, Baseline

log = logging.getLogger("gld8tr.benchmark")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", choices=("completion", "camera", "mesh"), default="completion",
                        help="completion: depth completion on view pairs (default); camera: field of view and depth "
                        "shift from one depth map (datasets synthetic, middlebury; methods module, geometric, fixed); "
                        "mesh: reconstructed meshes on held-out synthetic sequences (F@5cm, Acc, Comp, ... and "
                        "rendered-depth metrics; no --dataset)")
    parser.add_argument("--camera-model", default=None, help="camera-module checkpoint folder for --task camera "
                        "(default: the shipped core/weights/gld8tr-camera)")
    parser.add_argument("--predicted-depth", action="store_true", help="--task camera: also score each frame on the "
                        "depth the embedded gld8tr network predicts from the photo (scenario 'predicted')")
    parser.add_argument("--dataset", choices=DATASETS, help="dataset (required by the completion and camera tasks)")
    parser.add_argument("--sequences", type=int, default=8, help="mesh task: held-out sequences (default 8)")
    parser.add_argument("--frames", type=int, default=20, help="mesh task: frames per sequence (default 20)")
    parser.add_argument("--first-sequence", type=int, default=0,
                        help="mesh task: index of the first held-out sequence (default 0; e.g. 3 scores 3, 4, ...)")
    parser.add_argument("--refiner", default=None, help="mesh task: refiner checkpoint (default: the shipped one)")
    parser.add_argument("--depth-model", default="gld8tr", help="mesh task: depth completer of the predicted rows")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    parser.add_argument("--workers", type=int, default=1, help="mesh task: sequences scored in parallel processes")
    parser.add_argument("--root", default=None, help="dataset folder (scannet, hypersim, nyu)")
    parser.add_argument(
        "--methods",
        default=",".join(DEFAULT_METHODS),
        help="comma-separated depth-completer specs: gld8tr, aligned-mono[:ESTIMATOR], nearest, laplacian, "
        "ckpt:DIR, ... (default: %(default)s)",
    )
    parser.add_argument("--limit", type=int, default=None, help="at most N pairs")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default outputs/benchmark/DATASET)")
    parser.add_argument("--overlap", type=float, nargs=2, default=(0.4, 0.95), metavar=("MIN", "MAX"),
                        help="overlap band of the pairs (default 0.4 0.95)")  # fmt: skip
    parser.add_argument("--stride", type=int, default=1, help="every N-th frame is a candidate B (default 1)")
    parser.add_argument("--offsets", default=None,
                        help="comma-separated frame offsets A - B tried in order (multi-view datasets)")  # fmt: skip
    parser.add_argument("--max-side", type=int, default=640, help="resize frames to this long side (0 = never)")
    parser.add_argument("--seam-px", type=int, default=5, help="seam width in pixels (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="synthetic scenes and virtual cameras")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _device(name: str) -> str:
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _build_methods(specs: list[str], device: str, explicit: bool) -> list[Baseline]:
    """Methods by spec. A default method whose weights are missing is skipped with a warning; a method the user
    named is required, so its error propagates."""
    from benchmark.methods import build_method
    from core.errors import ModelNotAvailableError

    methods = []
    for spec in specs:
        try:
            methods.append(build_method(spec, device=device))
        except ModelNotAvailableError as exc:
            if explicit:
                raise
            log.warning("skipping default method %s: %s", spec, exc)
    return methods


def _main_mesh(args: argparse.Namespace) -> int:
    import torch

    from benchmark.mesh import MeshBenchConfig, markdown, run_mesh_benchmark
    from core.errors import InputError

    if args.sequences < 1 or args.frames < 2:
        raise InputError("--sequences must be >= 1 and --frames >= 2")
    if args.workers < 1:
        raise InputError("--workers must be >= 1")
    if args.first_sequence < 0:
        raise InputError("--first-sequence must be >= 0")
    from training.recon.data import BENCH_SEED_START

    cfg = MeshBenchConfig(sequences=args.sequences, frames=args.frames, refiner=args.refiner,
                          seed_start=BENCH_SEED_START + args.first_sequence,
                          depth_model=args.depth_model, workers=args.workers,
                          threads=args.threads or torch.get_num_threads())
    out: Path = args.out or Path("outputs") / "benchmark" / "mesh"
    result = run_mesh_benchmark(cfg, out, progress=not args.no_progress)
    sys.stdout.write(markdown(result["summary"]))
    log.info("wrote %s/summary.md, summary.json and rows.jsonl", out)
    return 0


def main(args: argparse.Namespace) -> int:
    if args.task == "mesh":
        return _main_mesh(args)
    from benchmark.datasets import open_reader
    from benchmark.pairs import PairConfig, SampleStore, load_or_build_manifest
    from benchmark.report import markdown_table, write_reports
    from benchmark.runner import run
    from core.errors import InputError

    if args.dataset is None:
        raise InputError(f"--dataset is required for the {args.task} task")
    specs = [s.strip() for s in args.methods.split(",") if s.strip()]
    if not specs:
        raise InputError("--methods names no method")
    if args.task == "camera":
        return _camera(args, specs)
    if len(set(specs)) != len(specs):
        raise InputError(f"--methods lists a method twice: {args.methods}")
    if args.limit is not None and args.limit < 1:
        raise InputError(f"--limit must be >= 1, got {args.limit}")
    out: Path = args.out or Path("outputs") / "benchmark" / args.dataset
    if args.seam_px < 1:
        raise InputError(f"--seam-px must be >= 1, got {args.seam_px}")
    try:
        options = {} if args.offsets is None else {"offsets": tuple(int(o) for o in args.offsets.split(","))}
    except ValueError:
        raise InputError(f"--offsets must be comma-separated integers, got {args.offsets!r}") from None
    config = PairConfig(
        overlap_min=args.overlap[0],
        overlap_max=args.overlap[1],
        stride=args.stride,
        max_side=args.max_side or None,
        **options,
    )
    reader = open_reader(args.dataset, args.root, limit=args.limit, seed=args.seed, max_side=config.max_side)
    device = _device(args.device)
    methods = _build_methods(specs, device, explicit=args.methods != ",".join(DEFAULT_METHODS))
    if not methods:
        raise InputError("no method could be built")
    store = SampleStore(out / "samples")
    log.info("selecting pairs of %s (overlap %.2f-%.2f)", args.dataset, config.overlap_min, config.overlap_max)
    manifest = load_or_build_manifest(out / "pairs.json", reader, args.dataset, args.root, config, args.limit, store)
    if not manifest.pairs:
        raise InputError(f"no pair of {args.dataset} has an overlap in [{config.overlap_min}, {config.overlap_max}]")
    log.info("%d pairs; methods: %s; device %s", len(manifest.pairs), ", ".join(m.name for m in methods), device)
    rows = run(reader, args.dataset, manifest, config, methods, out / "pairs.csv", store=store,
               seam_px=args.seam_px, device=device, progress=not args.no_progress)  # fmt: skip
    summary = write_reports(rows, out)
    sys.stdout.write(markdown_table(summary))
    log.info("wrote %s/summary.csv, summary.md, pairs.csv and error_vs_overlap.png", out)
    return 0


def _camera(args: argparse.Namespace, specs: list[str]) -> int:
    from benchmark.camera import CAMERA_DATASETS, CAMERA_METHODS, markdown, run_camera_benchmark
    from core.errors import InputError

    if args.dataset not in CAMERA_DATASETS:
        raise InputError(f"--task camera scores datasets {', '.join(CAMERA_DATASETS)}, not {args.dataset!r}")
    if args.methods == ",".join(DEFAULT_METHODS):
        specs = list(CAMERA_METHODS)
    unknown = [s for s in specs if s not in CAMERA_METHODS]
    if unknown:
        raise InputError(f"--task camera methods are {', '.join(CAMERA_METHODS)}; unknown: {', '.join(unknown)}")
    if args.limit is not None and args.limit < 1:
        raise InputError(f"--limit must be >= 1, got {args.limit}")
    out: Path = args.out or Path("outputs") / "benchmark" / f"camera-{args.dataset}"
    summary = run_camera_benchmark(args.dataset, out, methods=specs, limit=args.limit, seed=args.seed,
                                   model_path=args.camera_model, progress=not args.no_progress,
                                   predicted=args.predicted_depth)
    sys.stdout.write(markdown(summary))
    log.info("wrote %s/samples.csv, summary.csv and summary.md", out)
    return 0
