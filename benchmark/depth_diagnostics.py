"""Diagnostics behind the depth model card's analysis figures (issue 15), with the project's own metric code.

``row-profile``: how much of the monocular score a layout prior explains. One fixed per-row profile of log depth
(the median over the training frames of each row's log depth relative to its frame's median), median-scaled per
frame like the card's monocular rows, against a checkpoint and a constant depth, pooled over pixels as training
validation pools them. Frames come from the recipe's frame caches (rendered on first use).

``fills``: what a choice among fills could gain. On a benchmark ``samples/`` folder (written by ``gld8tr
benchmark``), mean per-pair hole MAE of each classical fill and a checkpoint, of the fills' per-pixel median, and
of the per-pixel best candidate (an oracle, which needs the ground truth: an upper bound, not a method).

``selection``: what choosing one candidate per image could gain. Mean per-pair hole MAE / AbsRel of the six
registry fills and a checkpoint; of the per-pair best of them by hole MAE (an oracle: the ceiling of any
per-image choice); and of a real per-image choice, made without the ground truth, by each candidate's AbsRel on
*pseudo-holes*: the hole's own shape shifted by its thickness (95th percentile of the distance to known depth)
up, down, left and right onto known pixels, which are hidden from every candidate and then scored against the
known depth. A strip beyond the frame's edge shifted inwards is the same extrapolation one hole-width earlier.

    python -m benchmark.depth_diagnostics row-profile --config configs/gld8tr-depth-mono-stage1.yaml \
        --checkpoint core/weights/gld8tr-depth-mono --cache runs/diag-cache
    python -m benchmark.depth_diagnostics fills --samples outputs/bench/synthetic/samples
    python -m benchmark.depth_diagnostics selection --samples outputs/bench/middlebury/samples
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

log = logging.getLogger("gld8tr.diagnostics")

FILLS = ("laplacian", "background", "colorization", "bilateral", "nearest")
SELECTION_FILLS = (*FILLS, "plane")
"""Every classical fill of the registry (``fills`` keeps the five its recorded figures were made with)."""


def _pooled_absrel(preds: np.ndarray, depths: np.ndarray) -> float:
    from core.depth_metrics import ErrorSums, error_sums, median_scaled

    total = ErrorSums()
    for pred, gt in zip(preds, depths, strict=True):
        region = gt > 0
        total = total + error_sums(median_scaled(pred, gt, region), gt, region)
    return total.metrics()["absrel"]


def _monocular(checkpoint: str, images: np.ndarray) -> np.ndarray:
    import torch

    from core.depthnet import DepthCompletionNet

    net = DepthCompletionNet.from_pretrained(checkpoint).eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(images), 16):
            rgb = torch.from_numpy(images[i : i + 16]).permute(0, 3, 1, 2).float() / 255.0
            zero = torch.zeros(rgb.shape[0], 1, *rgb.shape[-2:])
            out.append(net(rgb, zero, zero)[:, 0].numpy())
    return np.concatenate(out)


def row_profile(args: argparse.Namespace) -> None:
    from training.completion_dataset import synthetic_cache
    from training.train_config import TrainConfig

    cfg = TrainConfig.load(args.config)
    cache = Path(args.cache)
    train, val = synthetic_cache(cfg.synthetic, "train", cache), synthetic_cache(cfg.synthetic, "val", cache)
    log_d = np.where(train.depths > 0, np.log(np.maximum(train.depths, 1e-6)), np.nan)
    log_d -= np.nanmedian(log_d.reshape(len(log_d), -1), axis=1)[:, None, None]
    profile = np.exp(np.nanmedian(log_d, axis=(0, 2)))[:, None]
    # the same number of training frames as validation frames, spread over the training scenes
    picks = np.linspace(0, len(train) - 1, len(val)).round().astype(int)
    for split, images, depths in (("validation", val.images, val.depths),
                                  ("training", train.images[picks], train.depths[picks])):
        flat = np.ones_like(depths)
        rows = {"constant depth": flat, "row profile": flat * profile}
        if args.checkpoint:
            rows[f"checkpoint {args.checkpoint}"] = _monocular(args.checkpoint, images)
        for name, preds in rows.items():
            log.info("%s frames (%d), median-scaled AbsRel, %s: %.4f", split, len(depths), name,
                     _pooled_absrel(preds, depths))


def fills(args: argparse.Namespace) -> None:
    from core.backends.registry import build_depth_completer

    methods = {name: build_depth_completer(name) for name in (*FILLS, args.method)}
    errors: dict[str, list[float]] = {name: [] for name in (*methods, "median of the fills", "per-pixel best")}
    files = sorted(Path(args.samples).glob("*.npz"))
    if not files:
        raise SystemExit(f"no samples in {args.samples}: run gld8tr benchmark first")
    for path in files:
        z = np.load(path)
        hole = ~z["known_mask"] & (z["gt"] > 0)
        preds = {name: m(z["image"], z["known_depth"], z["known_mask"]) for name, m in methods.items()}
        preds["median of the fills"] = np.median(np.stack([preds[f] for f in FILLS]), axis=0)
        err = {name: np.abs(p - z["gt"]) for name, p in preds.items()}
        err["per-pixel best"] = np.minimum.reduce([err[name] for name in methods])
        for name, e in err.items():
            errors[name].append(float(e[hole].mean()))
    for name, values in errors.items():
        log.info("%d pairs, mean per-pair hole MAE, %s: %.4f m", len(files), name, float(np.mean(values)))


def pseudo_holes(known: np.ndarray) -> np.ndarray:
    """bool [H, W]: known pixels the unknown region covers once shifted by its thickness along each image axis."""
    from scipy import ndimage

    unknown = ~known
    if not unknown.any() or not known.any():
        return np.zeros_like(known)
    dist = ndimage.distance_transform_edt(unknown)
    t = max(2, round(float(np.percentile(dist[unknown], 95))))
    H, W = known.shape
    shifted = np.zeros_like(known)
    for dy, dx in ((0, t), (0, -t), (t, 0), (-t, 0)):
        if abs(dy) >= H or abs(dx) >= W:
            continue
        dst = (slice(max(dy, 0), H + min(dy, 0)), slice(max(dx, 0), W + min(dx, 0)))
        src = (slice(max(-dy, 0), H + min(-dy, 0)), slice(max(-dx, 0), W + min(-dx, 0)))
        shifted[dst] |= unknown[src]
    return shifted & known


def selection(args: argparse.Namespace) -> None:
    from core.backends.registry import build_depth_completer
    from core.depth_metrics import depth_errors

    methods = {name: build_depth_completer(name) for name in (*SELECTION_FILLS, args.method)}
    rows = (*methods, "per-pair best (oracle)", "chosen on pseudo-holes")
    scores: dict[str, list[tuple[float, float]]] = {name: [] for name in rows}
    chosen: dict[str, int] = dict.fromkeys(methods, 0)
    files = sorted(Path(args.samples).glob("*.npz"))
    if not files:
        raise SystemExit(f"no samples in {args.samples}: run gld8tr benchmark first")
    for path in files:
        z = np.load(path)
        image, known, known_depth, gt = z["image"], z["known_mask"], z["known_depth"], z["gt"]
        hole = ~known
        pseudo = pseudo_holes(known)
        held = known & ~pseudo
        held_depth = np.where(held, known_depth, 0).astype(np.float32)
        pair: dict[str, tuple[float, float]] = {}
        pseudo_absrel: dict[str, float] = {}
        for name, method in methods.items():
            e = depth_errors(method(image, known_depth, known), gt, hole)
            pair[name] = (e["mae"], e["absrel"])
            if pseudo.any():
                pseudo_absrel[name] = depth_errors(method(image, held_depth, held), known_depth, pseudo)["absrel"]
        if not np.isfinite(pair[args.method][0]):
            continue
        for name, value in pair.items():
            scores[name].append(value)
        scores["per-pair best (oracle)"].append(min(pair.values()))
        pick = min(pseudo_absrel, key=pseudo_absrel.get) if pseudo_absrel else args.method
        chosen[pick] += 1
        scores["chosen on pseudo-holes"].append(pair[pick])
    for name, values in scores.items():
        mae, absrel = np.mean(values, axis=0)
        log.info("%d pairs, mean per-pair hole MAE / AbsRel, %s: %.4f / %.4f", len(values), name, mae, absrel)
    log.info("chosen on pseudo-holes: %s", ", ".join(f"{k} {v}" for k, v in chosen.items()))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("row-profile", help="layout prior against a monocular checkpoint")
    p.add_argument("--config", required=True, help="training recipe whose frame caches to use")
    p.add_argument("--checkpoint", default=None, help="also score this checkpoint's monocular depth")
    p.add_argument("--cache", required=True, help="frame-cache folder (rendered on first use)")
    p = sub.add_parser("fills", help="single fills, their median and the per-pixel best, on benchmark samples")
    p.add_argument("--samples", required=True, help="a samples/ folder written by gld8tr benchmark")
    p.add_argument("--method", default="gld8tr", help="network spec scored beside the fills (default gld8tr)")
    p = sub.add_parser("selection", help="per-image choice among the fills and a network: oracle and pseudo-holes")
    p.add_argument("--samples", required=True, help="a samples/ folder written by gld8tr benchmark")
    p.add_argument("--method", default="gld8tr", help="network spec among the candidates (default gld8tr)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    {"row-profile": row_profile, "fills": fills, "selection": selection}[args.what](args)


if __name__ == "__main__":
    main()
