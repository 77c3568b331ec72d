"""GPU smoke check for the Hugging Face backends: per-stage time and peak VRAM on a CUDA machine.

Runs the same tiny, randomly initialised models as the CPU tests (``core.backends.hf_tiny``) through the
registry on the GPU: diffusers inpainting (fp16), transformers depth (fp16), Invisible Stitch completion (a
tiny checkpoint in the original names, fp32), once with models resident and once with ``--low-vram``
(idle models offloaded to the CPU). Real models can be timed instead with ``--inpainter`` / ``--depth-model``
/ ``--completer`` specs (e.g. ``sd2-inpainting``) when their weights are in the cache.

Then the project's own device path (``core_stage_figures``): the point renderer (1M points into 512x512), the
shipped depth network at 512x336 with its device-side Laplacian prior and seam correction, the Laplacian prior
alone (torch conjugate gradients on the device against scipy's sparse LU on the CPU), the reference Gaussian
rasteriser (forward + backward) and a whole ``stage`` scene per stage. ``--core-only`` skips the Hugging Face
models; ``--device cpu`` runs the same code on the CPU.

On a machine without CUDA it prints why and exits 0, so CI can call it unconditionally.

    python -m benchmark.gpu_smoke [--repeats 3] [--low-vram] [--size 512] [--core-only]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("gld8tr.gpu_smoke")


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def _timed(fn: Callable[[], object], repeats: int, stage: str, peaks: dict[str, float], device: str) -> list[float]:
    """Seconds per call between CUDA synchronisations; the first (warm-up) call is timed but reported apart."""
    from core.vram import track_stage

    times = []
    for _ in range(repeats + 1):
        with track_stage(stage, peaks, device):
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            times.append(time.perf_counter() - start)
    return times


def _tiny_invisible_stitch(out_dir: Path) -> Path:
    """A tiny 5-channel ZoeDepth saved as a converted Invisible Stitch directory (config + safetensors); the
    name mapping from the original ``.pt`` is covered by tests/backends, the GPU check is about compute."""
    import torch
    from transformers import BeitConfig, ZoeDepthConfig, ZoeDepthForDepthEstimation

    torch.manual_seed(0)
    backbone = BeitConfig(
        image_size=64,
        patch_size=16,
        num_channels=5,
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=128,
        use_relative_position_bias=True,
        reshape_hidden_states=False,
        layer_scale_init_value=0.1,
        out_features=["stage1", "stage2", "stage3", "stage4"],
    )
    config = ZoeDepthConfig(
        backbone_config=backbone,
        neck_hidden_sizes=[8, 16, 32, 32],
        fusion_hidden_size=16,
        bottleneck_features=16,
        num_relative_features=8,
        num_attractors=[4, 2, 2, 1],
        bin_configurations=[{"n_bins": 8, "min_depth": 1e-3, "max_depth": 10.0}],
    )
    ZoeDepthForDepthEstimation(config).save_pretrained(out_dir)
    return out_dir


def core_stage_figures(device: str, repeats: int = 3) -> list[tuple[str, str, float, float, float]]:
    """Rows ``(stage, what, first s, median s, peak MiB)`` of the project's own code on ``device``."""
    import numpy as np
    import torch

    from benchmark.gaussian_speed import _leaf, test_scene
    from benchmark.render_speed import _lifted_cloud
    from core.backends.registry import build
    from core.camera import Intrinsics, invert_pose, pose_from_yaw_pitch
    from core.depthnet.laplace import laplacian_fill_torch
    from core.fill import laplacian_fill
    from core.gaussians.rasterize import rasterize_reference
    from core.io.image import load_image
    from core.pipeline import generate_scene
    from core.render import render_points_world_size

    rows: list[tuple[str, str, float, float, float]] = []
    peaks: dict[str, float] = {}

    def add(stage: str, what: str, fn: Callable[[], object]) -> None:
        times = _timed(fn, repeats, stage, peaks, device)
        rows.append((stage, what, times[0], float(np.median(times[1:] or times)), peaks.get(stage, 0.0)))

    pts, colors, size = _lifted_cloud(1_000_000, device)
    K = Intrinsics.from_fov(512, 512).matrix(device)
    w2c = invert_pose(pose_from_yaw_pitch(20.0, 0.0, (0.05, 0.0, 0.0))).to(device)
    add("render", "1M points, 512x512", lambda: render_points_world_size(pts, colors, size, K, w2c, 512, 512))

    photo = np.asarray(load_image(Path(__file__).resolve().parent.parent / "examples" / "coffee.jpg"))[:336, :512]
    known = np.zeros(photo.shape[:2], bool)
    known[:, :300] = True
    depth = np.where(known, 2.0 + np.linspace(0, 1, photo.shape[1])[None, :], 0).astype(np.float32)
    completer = build("depth_completer", "gld8tr", device=device)
    add("complete", "gld8tr 512x336, half known", lambda: completer(photo, depth, known))

    rng = np.random.default_rng(0)
    vals = rng.normal(size=(208, 320)).cumsum(1) / 20
    kn = np.ones((208, 320), bool)
    kn[:, 200:290] = False
    v_t = torch.from_numpy(vals)[None, None].to(device)
    k_t = torch.from_numpy(kn)[None, None].to(device)
    add("laplace-torch", f"CG on {device}, 320x208", lambda: laplacian_fill_torch(v_t, k_t))
    t0 = time.perf_counter()
    laplacian_fill(vals, kn)
    rows.append(("laplace-scipy", "sparse LU on the CPU", time.perf_counter() - t0, time.perf_counter() - t0, 0.0))

    g, cam = test_scene(160)
    g = g.to(device)

    def gaussian_step() -> None:
        leaf = _leaf(g)
        rasterize_reference(leaf, cam).image.abs().mean().backward()

    add("gaussians", "reference rasteriser fwd+bwd, 160 px", gaussian_step)

    scene = generate_scene(photo, mode="stage", device=device, seed=0)  # warm
    scene = generate_scene(photo, mode="stage", device=device, seed=0)
    for stage, seconds in scene.timings.items():
        rows.append((f"stage:{stage}", "generate_scene stage, 512x336", seconds, seconds,
                     scene.peak_memory_mb.get(stage, 0.0)))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", type=int, default=256, help="square test image side in pixels")
    parser.add_argument("--low-vram", action="store_true", help="offload idle models to the CPU")
    parser.add_argument("--inpainter", default=None, help="inpainter spec (default: tiny diffusers pipeline)")
    parser.add_argument("--depth-model", default=None, help="depth estimator spec (default: tiny Depth Anything)")
    parser.add_argument("--completer", default=None, help="depth completer spec (default: tiny Invisible Stitch)")
    parser.add_argument("--steps", type=int, default=4, help="diffusion steps")
    parser.add_argument("--core-only", dest="core_only", action="store_true",
                        help="only the project's own stages (renderer, depth net, prior, rasteriser, pipeline)")
    parser.add_argument(
        "--device",
        default="cuda",
        choices=["cuda", "cpu"],
        help="cpu = dry run of the same code path (times only, no VRAM)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    import numpy as np
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print(f"gpu_smoke: no CUDA device visible (torch {torch.__version__}); nothing to measure, exiting cleanly.")
        return 0

    from core.backends import hf_tiny, registry

    device = args.device
    if device == "cpu":
        from core.threads import apply_thread_policy

        apply_thread_policy(0)  # a busy CPU with torch's default threads measures contention, not the code
    name = torch.cuda.get_device_name(0) if device == "cuda" else "CPU (dry run)"
    print(f"gpu_smoke: {name}, torch {torch.__version__}, low_vram={args.low_vram}")
    peaks: dict[str, float] = {}
    rows: list[tuple[str, str, float, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.core_only:
            rows.extend(core_stage_figures(device, args.repeats))
            _print_rows(rows, device)
            return 0
        root = Path(tmp)
        inpainter_spec = args.inpainter or f"diffusers:{hf_tiny.build_tiny_inpaint_pipeline(root / 'sd')}"
        depth_spec = args.depth_model or f"transformers:{hf_tiny.build_tiny_depth_anything(root / 'da')}"
        completer_spec = args.completer or f"invisible-stitch:{_tiny_invisible_stitch(root / 'is')}"

        rng = np.random.default_rng(0)
        image = rng.integers(0, 255, (args.size, args.size, 3), dtype=np.uint8)
        mask = np.zeros(image.shape[:2], bool)
        mask[:, args.size // 2 :] = True
        depth = np.where(mask, 0.0, 2.0).astype(np.float32)

        stages: list[tuple[str, str, Callable[[], object]]] = []
        with _load_timer("load:inpainter", rows, device):
            inpainter = registry.build(
                "inpainter", inpainter_spec, device=device, low_vram=args.low_vram, steps=args.steps
            )
        stages.append(("inpaint", inpainter_spec, lambda: inpainter(image, mask, "a room", seed=0)))
        with _load_timer("load:depth", rows, device):
            estimator = registry.build("depth_estimator", depth_spec, device=device, low_vram=args.low_vram)
        stages.append(("depth", depth_spec, lambda: estimator(image)))
        with _load_timer("load:complete", rows, device):
            completer = registry.build("depth_completer", completer_spec, device=device, low_vram=args.low_vram)
        stages.append(("complete", completer_spec, lambda: completer(image, depth, ~mask)))

        for stage, spec, fn in stages:
            times = _timed(fn, args.repeats, stage, peaks, device)
            steady = times[1:] or times
            rows.append((stage, spec, times[0], float(np.median(steady)), peaks.get(stage, 0.0)))

    rows.extend(core_stage_figures(device, args.repeats))
    _print_rows(rows, device)
    return 0


def _print_rows(rows: list[tuple[str, str, float, float, float]], device: str) -> None:
    from core.vram import memory_snapshot

    print(f"{'stage':<16} {'first s':>8} {'median s':>9} {'peak MiB':>9}  spec")
    for stage, spec, first, median, peak in rows:
        print(f"{stage:<16} {first:>8.3f} {median:>9.3f} {peak:>9.1f}  {spec}")
    print("memory now:", {k: round(v, 1) for k, v in memory_snapshot(device).items()})


class _load_timer:  # noqa: N801 - used like a function in a with-statement
    """Times model loading and records its peak VRAM as one row."""

    def __init__(self, stage: str, rows: list, device: str) -> None:
        self.stage, self.rows, self.device = stage, rows, device

    def __enter__(self) -> None:
        import torch

        if self.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        import torch

        _sync(self.device)
        seconds = time.perf_counter() - self.start
        peak = torch.cuda.max_memory_allocated() / 2**20 if self.device == "cuda" else 0.0
        self.rows.append((self.stage, "", seconds, seconds, peak))


if __name__ == "__main__":
    sys.exit(main())
