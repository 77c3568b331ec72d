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
def quality(checkpoint: Path, cache_dir: Path, solve_iters: int = 0) -> dict[str, float]:
    """Novel-view PSNR / SSIM of a trained checkpoint and of the point-cloud baseline on the validation split;
    with ``solve_iters`` also of the splats after the closed-form colour solve against the input view (what the
    product does with every view it has)."""
    from core.gaussians.rasterize import psnr, rasterize_reference
    from core.splatter import SplatterNet
    from core.splatter.color_solve import solve_colors
    from training.splatter_config import SplatterTrainConfig
    from training.splatter_trainer import load_data, predict_maps, render_maps, ssim, view_camera

    run = checkpoint.parent
    cfg = SplatterTrainConfig.load(run / "train.yaml")
    model = SplatterNet.from_pretrained(checkpoint)
    _, val = load_data(cfg, run if cfg.data.cache_dir else cache_dir)
    H, W = val.images.shape[2:4]
    ff_p, ff_s, pt_p, pt_s, inp = [], [], [], [], []
    sv_p, sv_s, sv_inp = [], [], []
    point_depth = "true" if cfg.input_depth == "none" else cfg.input_depth
    for i in range(len(val)):
        batch = val.batch(np.array([i]), cfg.input_depth)
        pd = val.batch(np.array([i]), point_depth)["input_depth"][0, 0]
        maps = predict_maps(model, batch, cfg.input_depth)
        imgs = render_maps(maps, batch, rasterize_reference, list(range(val.images.shape[1])))[0]
        if solve_iters:
            g = SplatterNet.gaussians(maps, 0)
            cams = [view_camera(batch["K"][0, v], batch["poses"][0, v], H, W) for v in range(val.images.shape[1])]
            solved = solve_colors(g, cams[:1], [batch["rgb"][0, 0].permute(1, 2, 0)], iters=solve_iters)
            for v, cam in enumerate(cams):
                img = rasterize_reference(solved, cam).image.clamp(0, 1)
                target = batch["rgb"][0, v].permute(1, 2, 0)
                (sv_inp if v == 0 else sv_p).append(psnr(img, target))
                if v:
                    sv_s.append(float(ssim(img, target)))
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
            "points_psnr_novel": float(np.mean(pt_p)), "points_ssim_novel": float(np.mean(pt_s)),
            **({"solve_iters": solve_iters, "solved_psnr_novel": float(np.mean(sv_p)),
                "solved_ssim_novel": float(np.mean(sv_s)), "solved_psnr_input": float(np.mean(sv_inp))}
               if solve_iters else {})}


HEADS = {"depth": [0], "offset": [1, 2, 3], "opacity": [4], "scale": [5, 6, 7], "quat": [8, 9, 10, 11],
         "color": [12, 13, 14]}
"""Output channels of each head of a degree-0 ``SplatterNet`` (``core/splatter/model.py``)."""


def zero_heads(checkpoint: str | None, heads: list[str], out: Path) -> str:
    """A copy of ``checkpoint`` (default: shipped) with the last layer of ``heads`` zeroed, saved under ``out``: the
    diagnostic that shows which of a net's outputs limit the colour solve (zeroed heads fall back to the
    geometric guess: the lifted pixel, the starting scale and opacity, the pixel's colour)."""
    from core.splatter import SHIPPED_DIR, SplatterNet

    model = SplatterNet.from_pretrained(checkpoint or SHIPPED_DIR)
    unknown = sorted(set(heads) - set(HEADS))
    if unknown or model.config.sh_degree:
        raise SystemExit(f"--zero-heads takes {', '.join(HEADS)} of a degree-0 net; got {', '.join(unknown)}")
    rows = [c for h in heads for c in HEADS[h]]
    with torch.no_grad():
        model.head[-1].weight[rows] = 0
        model.head[-1].bias[rows] = 0
    return str(model.save_pretrained(out / ("zeroed-" + "-".join(sorted(heads)))))


def stage(image: str, checkpoint: str | None, repeats: int, fit_iters: int | None, device: str,
          max_side: int | None = -1, eval_max_side: int | None = 160, solve_iters: int | None = None) -> dict:
    """Feed-forward vs fit on one 512-px ``stage`` scene (time and input-view PSNR); the feed-forward splats are
    timed and scored with ``solve_iters`` steps of the colour solve (None: the product default) and scored once
    more without it (the network's own colours)."""
    from core.gaussians.fit import FitConfig, fit_gaussians
    from core.gaussians.stage import _feedforward
    from core.pipeline import generate_scene
    from core.splatter.feedforward import feedforward_gaussians, load_model

    t0 = time.perf_counter()
    scene = generate_scene(image, "", "stage", seed=0, device=device)
    gen_s = time.perf_counter() - t0
    load_model(checkpoint, "cuda" if device == "cuda" else "cpu")  # loading is not part of the per-scene time
    run = {"checkpoint": checkpoint, "device": device, "max_side": max_side}
    feedforward_gaussians(scene, **run, solve_iters=solve_iters)  # warm-up
    times, cpu = [], []
    for _ in range(repeats):
        c0 = time.process_time()
        times.append(feedforward_gaussians(scene, **run, solve_iters=solve_iters).seconds)
        cpu.append(time.process_time() - c0)
    ff_metrics, _ = _feedforward(scene, **run, eval_max_side=eval_max_side, solve_iters=solve_iters)
    net_metrics, _ = _feedforward(scene, **run, eval_max_side=eval_max_side, solve_iters=0)
    out = {"image": image, "views": len(scene.views), "size": list(scene.views[0].shape[1::-1]),
           "generation_seconds": round(gen_s, 2), "feedforward_seconds": round(statistics.median(times), 3),
           "feedforward_cpu_seconds": round(statistics.median(cpu), 3),
           "feedforward_seconds_all": [round(t, 3) for t in times],
           "feedforward_gaussians": ff_metrics["num_gaussians"],
           "feedforward_psnr_input_db": ff_metrics["psnr_input_db"],
           "feedforward_psnr_views_db": ff_metrics["psnr_views_db"], "psnr_eval_max_side": eval_max_side,
           "color_solve_iters": ff_metrics["color_solve_iters"], "resolution": ff_metrics["resolution"],
           "net_only_psnr_input_db": net_metrics["psnr_input_db"],
           "net_only_psnr_views_db": net_metrics["psnr_views_db"],
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
        lines += ["| checkpoint (input depth) | feed-forward novel PSNR / SSIM | points (`core.render`) novel PSNR / "
                  "SSIM | feed-forward input-view PSNR | + colour solve: novel PSNR / SSIM, input PSNR |",
                  "| --- | ---: | ---: | ---: | ---: |"]
        for q in results["quality"]:
            solved = (f"{q['solved_psnr_novel']:.2f} / {q['solved_ssim_novel']:.3f}, {q['solved_psnr_input']:.2f} "
                      f"({q['solve_iters']} steps)" if "solve_iters" in q else "-")
            lines.append(f"| {q['checkpoint']} ({q['input_depth']}) | {q['ff_psnr_novel']:.2f} / "
                         f"{q['ff_ssim_novel']:.3f} | {q['points_psnr_novel']:.2f} / {q['points_ssim_novel']:.3f} "
                         f"({q['points_depth']} depth) | {q['ff_psnr_input']:.2f} | {solved} |")
    if results.get("stage"):
        s = results["stage"]
        w, h = s["resolution"]
        lines += ["", f"PSNR (dB) measured at {s['psnr_eval_max_side'] or 'full'} px; feed-forward working "
                  f"resolution {w}x{h}", "",
                  "| method | wall s | CPU s | Gaussians | input-view PSNR | all views |",
                  "| --- | ---: | ---: | ---: | ---: | --- |",
                  f"| feedforward (colour solve {s['color_solve_iters']} steps) | {s['feedforward_seconds']:.2f} | "
                  f"{s['feedforward_cpu_seconds']:.2f} | {s['feedforward_gaussians']:,} | "
                  f"{s['feedforward_psnr_input_db']:.2f} | {_db(s['feedforward_psnr_views_db'])} |",
                  f"| (the network's own colours) | | | | {s['net_only_psnr_input_db']:.2f} | "
                  f"{_db(s['net_only_psnr_views_db'])} |"]
        if "fit_seconds" in s:
            lines += [f"| fit ({s['fit_iterations']} it.) | {s['fit_seconds']:.1f} | {s['fit_cpu_seconds']:.1f} | "
                      f"{s['fit_gaussians']:,} | {s['fit_psnr_input_db']:.2f} | {_db(s['fit_psnr_views_db'])} |", "",
                      f"speed-up: {s['speedup']}x wall, {s['cpu_speedup']}x CPU time"]
    return "\n".join(lines) + "\n"


def _db(values: list[float]) -> str:
    return " / ".join(f"{v:.1f}" for v in values)


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
    parser.add_argument("--solve-iters", type=int, default=None,
                        help="colour-solve steps of the feed-forward splats (default: the product default; 0: off)")
    parser.add_argument("--zero-heads", default="", metavar="HEAD,...",
                        help=f"--stage with these output heads of the checkpoint zeroed ({', '.join(HEADS)})")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="outputs/bench/splatter")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    from core.splatter.color_solve import DEFAULT_ITERS

    results: dict = {"threads": args.threads, "quality": [], "stage": None}
    for ck in args.quality:
        results["quality"].append({"checkpoint": ck, **quality(Path(ck), Path(args.cache_dir),
                                                               args.solve_iters if args.solve_iters is not None
                                                               else DEFAULT_ITERS)})
        log.info("%s", results["quality"][-1])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.zero_heads:
        args.checkpoint = zero_heads(args.checkpoint, args.zero_heads.split(","), out)
        results["zero_heads"] = args.zero_heads.split(",")
    if args.stage:
        results["stage"] = stage(args.stage, args.checkpoint, args.repeats, args.fit_iters, args.device,
                                 args.ff_max_side, args.eval_max_side or None, args.solve_iters)
        log.info("%s", results["stage"])
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "results.md").write_text(markdown(results))
    sys.stdout.write(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
