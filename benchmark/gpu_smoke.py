"""GPU smoke check for the Hugging Face backends: per-stage time and peak VRAM on a CUDA machine.

Runs the same tiny, randomly initialised models as the CPU tests (``core.backends.hf_tiny``) through the
registry on the GPU: diffusers inpainting (fp16), transformers depth (fp16), Invisible Stitch completion (a
tiny checkpoint in the original names, fp32), once with models resident and once with ``--low-vram``
(idle models offloaded to the CPU). Real models can be timed instead with ``--inpainter`` / ``--depth-model``
/ ``--completer`` specs (e.g. ``sd2-inpainting``) when their weights are in the cache.

On a machine without CUDA it prints why and exits 0, so CI can call it unconditionally.

    python -m benchmark.gpu_smoke [--repeats 3] [--low-vram] [--size 512]
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", type=int, default=256, help="square test image side in pixels")
    parser.add_argument("--low-vram", action="store_true", help="offload idle models to the CPU")
    parser.add_argument("--inpainter", default=None, help="inpainter spec (default: tiny diffusers pipeline)")
    parser.add_argument("--depth-model", default=None, help="depth estimator spec (default: tiny Depth Anything)")
    parser.add_argument("--completer", default=None, help="depth completer spec (default: tiny Invisible Stitch)")
    parser.add_argument("--steps", type=int, default=4, help="diffusion steps")
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
    from core.vram import memory_snapshot

    device = args.device
    name = torch.cuda.get_device_name(0) if device == "cuda" else "CPU (dry run)"
    print(f"gpu_smoke: {name}, torch {torch.__version__}, low_vram={args.low_vram}")
    peaks: dict[str, float] = {}
    rows: list[tuple[str, str, float, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
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

    print(f"{'stage':<14} {'first s':>8} {'median s':>9} {'peak MiB':>9}  spec")
    for stage, spec, first, median, peak in rows:
        print(f"{stage:<14} {first:>8.3f} {median:>9.3f} {peak:>9.1f}  {spec}")
    print("memory now:", {k: round(v, 1) for k, v in memory_snapshot(device).items()})
    return 0


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
