"""Feed-forward Gaussians against their alternatives: speed on a product scene, quality on held-out scenes.

Two parts, each optional:

* ``--quality CKPT [CKPT ...]`` (held-out synthetic scenes, the validation split the trainer never sees, at the
  checkpoint's training resolution): novel-view PSNR / SSIM of the feed-forward splats, and of the input view's
  point cloud (lifted with the same depth the net was given, or the true depth for the RGB-only net) rendered by
  ``core.render`` from the same novel cameras: the baseline a splat model has to beat.
* ``--stage IMAGE`` (a ``gld8tr run --mode stage`` scene at 512 px): wall time of ``feedforward`` and of ``fit``
  with its CPU default, side by side, and their PSNR on the input views (both measured at the fit's 160-px
  working resolution).

    python -m benchmark.splatter --quality runs/splatter/{rgb,pred,truedepth}/best --stage examples/coffee.jpg \
        --threads 1 --out outputs/bench/splatter

Writes ``results.json`` and ``results.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger("benchmark.splatter")


def point_render(image: torch.Tensor, depth: torch.Tensor, K: torch.Tensor, K_t: torch.Tensor, pose: torch.Tensor,
                 height: int, width: int) -> torch.Tensor:
    """The input view lifted to points on ``depth`` and drawn into the target camera (discs of one pixel
    footprint), [H, W, 3] in [0, 1]; black where nothing lands."""
    from core.camera import invert_pose, unproject_depth
    from core.render import render_points_world_size

    valid = depth > 0
    pts = unproject_depth(depth, K)[valid]
    cols = image.permute(1, 2, 0)[valid]
    size = depth[valid] / K[0, 0] * 0.75
    out = render_points_world_size(pts, cols, size, K_t, invert_pose(pose), height, width)
    return out.image.float()


@torch.no_grad()
def quality(checkpoint: Path, cache_dir: Path) -> dict[str, float]:
    """Novel-view PSNR / SSIM of a trained checkpoint and of the point-cloud baseline on the validation split."""
    from core.gaussians.rasterize import psnr, rasterize_reference
    from core.splatter import SplatterNet
    from training.splatter_config import SplatterTrainConfig
    from training.splatter_trainer import load_data, render_views, ssim

    run = checkpoint.parent
    cfg = SplatterTrainConfig.load(run / "train.yaml")
    model = SplatterNet.from_pretrained(checkpoint)
    _, val = load_data(cfg, run if cfg.data.cache_dir else cache_dir)
    H, W = val.images.shape[2:4]
    ff_p, ff_s, pt_p, pt_s, inp = [], [], [], [], []
    point_depth = "true" if cfg.input_depth == "none" else cfg.input_depth
    for i in range(len(val)):
        batch = val.batch(np.array([i]), cfg.input_depth)
        pd = val.batch(np.array([i]), point_depth)["input_depth"][0, 0]
        imgs = render_views(model, batch, cfg.input_depth, rasterize_reference, list(range(val.images.shape[1])))[0]
        for v, img in enumerate(imgs):
            target = batch["rgb"][0, v].permute(1, 2, 0)
            if v == 0:
                inp.append(psnr(img.clamp(0, 1), target))
                continue
            ff_p.append(psnr(img.clamp(0, 1), target))
            ff_s.append(float(ssim(img.clamp(0, 1), target)))
            pts = point_render(batch["rgb"][0, 0], pd, batch["K"][0, 0], batch["K"][0, v], batch["poses"][0, v], H, W)
            pt_p.append(psnr(pts, target))
            pt_s.append(float(ssim(pts, target)))
    return {"input_depth": cfg.input_depth, "scenes": len(val), "resolution": [W, H],
            "ff_psnr_novel": float(np.mean(ff_p)), "ff_ssim_novel": float(np.mean(ff_s)),
            "ff_psnr_input": float(np.mean(inp)), "points_depth": point_depth,
            "points_psnr_novel": float(np.mean(pt_p)), "points_ssim_novel": float(np.mean(pt_s))}


def stage(image: str, checkpoint: str | None, repeats: int, fit_iters: int | None, device: str,
          max_side: int | None = -1, eval_max_side: int | None = 160) -> dict:
    """Feed-forward vs fit on one 512-px ``stage`` scene (time and input-view PSNR)."""
    from core.gaussians.fit import FitConfig, fit_gaussians
    from core.gaussians.stage import _feedforward
    from core.pipeline import generate_scene
    from core.splatter.feedforward import feedforward_gaussians, load_model

    t0 = time.perf_counter()
    scene = generate_scene(image, "", "stage", seed=0, device=device)
    gen_s = time.perf_counter() - t0
    load_model(checkpoint, "cuda" if device == "cuda" else "cpu")  # loading is not part of the per-scene time
    feedforward_gaussians(scene, checkpoint=checkpoint, device=device, max_side=max_side)  # warm-up
    times, cpu = [], []
    for _ in range(repeats):
        c0 = time.process_time()
        times.append(feedforward_gaussians(scene, checkpoint=checkpoint, device=device, max_side=max_side).seconds)
        cpu.append(time.process_time() - c0)
    ff_metrics, _ = _feedforward(scene, device=device, max_side=max_side, checkpoint=checkpoint,
                                 eval_max_side=eval_max_side)
    out = {"image": image, "views": len(scene.views), "size": list(scene.views[0].shape[1::-1]),
           "generation_seconds": round(gen_s, 2), "feedforward_seconds": round(statistics.median(times), 3),
           "feedforward_cpu_seconds": round(statistics.median(cpu), 3),
           "feedforward_seconds_all": [round(t, 3) for t in times],
           "feedforward_gaussians": ff_metrics["num_gaussians"],
           "feedforward_psnr_input_db": ff_metrics["psnr_input_db"],
           "feedforward_psnr_views_db": ff_metrics["psnr_views_db"], "psnr_eval_max_side": eval_max_side,
           "device": device}
    if fit_iters == 0:
        return out
    t0, c0 = time.perf_counter(), time.process_time()
    fit = fit_gaussians(scene, FitConfig(iters=fit_iters), device=device)
    fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
    ff_s = statistics.median(times)
    return {**out, "fit_cpu_seconds": round(fit_cpu, 2), "cpu_speedup": round(fit_cpu / statistics.median(cpu), 1),
        "fit_seconds": round(fit_s, 2), "fit_iterations": fit.iterations, "fit_gaussians": len(fit.gaussians),
        "fit_psnr_input_db": round(fit.psnr_input, 3), "fit_psnr_views_db": [round(p, 3) for p in fit.psnr_views],
        "fit_init_psnr_input_db": round(fit.psnr_input_init, 3),
        "speedup": round(fit_s / ff_s, 1),
    }


def markdown(results: dict) -> str:
    lines = []
    if results.get("quality"):
        lines += ["| variant (input depth) | feed-forward novel PSNR / SSIM | points (`core.render`) novel PSNR / SSIM "
                  "| feed-forward input-view PSNR |", "| --- | ---: | ---: | ---: |"]
        for q in results["quality"]:
            lines.append(f"| {q['input_depth']} | {q['ff_psnr_novel']:.2f} / {q['ff_ssim_novel']:.3f} | "
                         f"{q['points_psnr_novel']:.2f} / {q['points_ssim_novel']:.3f} ({q['points_depth']} depth) | "
                         f"{q['ff_psnr_input']:.2f} |")
    if results.get("stage"):
        s = results["stage"]
        lines += ["", "| method | wall s | CPU s | Gaussians | input-view PSNR (dB) |",
                  "| --- | ---: | ---: | ---: | ---: |",
                  f"| feedforward | {s['feedforward_seconds']:.2f} | {s['feedforward_cpu_seconds']:.2f} | "
                  f"{s['feedforward_gaussians']:,} | {s['feedforward_psnr_input_db']:.2f} |"]
        if "fit_seconds" in s:
            lines += [f"| fit ({s['fit_iterations']} it.) | {s['fit_seconds']:.1f} | {s['fit_cpu_seconds']:.1f} | "
                      f"{s['fit_gaussians']:,} | {s['fit_psnr_input_db']:.2f} |", "",
                      f"speed-up: {s['speedup']}x wall, {s['cpu_speedup']}x CPU time"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quality", nargs="*", default=[], metavar="CKPT", help="run/best folders to score")
    parser.add_argument("--cache-dir", default="runs/splatter/cache")
    parser.add_argument("--stage", metavar="IMAGE", help="photo for the speed comparison (mode stage, 512 px)")
    parser.add_argument("--checkpoint", default=None, help="splatter checkpoint for --stage (default: shipped)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ff-max-side", type=int, default=-1, help="feed-forward working resolution (-1: default)")
    parser.add_argument("--eval-max-side", type=int, default=160,
                        help="resolution of the feed-forward PSNRs (160: the fit's CPU working resolution; 0: full)")
    parser.add_argument("--fit-iters", type=int, default=None,
                        help="fit iterations (default: the device default; 0 skips the fit)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="outputs/bench/splatter")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    results: dict = {"threads": args.threads, "quality": [], "stage": None}
    for ck in args.quality:
        results["quality"].append({"checkpoint": ck, **quality(Path(ck), Path(args.cache_dir))})
        log.info("%s", results["quality"][-1])
    if args.stage:
        results["stage"] = stage(args.stage, args.checkpoint, args.repeats, args.fit_iters, args.device,
                                 args.ff_max_side, args.eval_max_side or None)
        log.info("%s", results["stage"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "results.md").write_text(markdown(results))
    sys.stdout.write(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
