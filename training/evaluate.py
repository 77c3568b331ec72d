"""Validation of a depth network on held-out synthetic scenes, with the benchmark's baselines beside it.

One evaluation stack: the errors are :mod:`core.depth_metrics` (the code ``gld8tr benchmark`` scores with, same
rules for invalid ground truth, bad predictions and empty regions) and the baselines are the very registry
backends the benchmark runs, under the same names (:data:`core.backends.registry.COMPLETION_BASELINES`):
``nearest``, ``laplacian``, ``colorization``, ``bilateral`` and ``aligned-mono`` -- the last with the network
under evaluation as its monocular estimator (the benchmark's default aligns the shipped network), so the gap to
the network's own completion isolates what conditioning on known depth buys. Only the reduction differs by
purpose and is named: validation pools pixels over all samples (``*_hole_*``), the benchmark averages per pair.

Regions: ``hole`` = completion samples' pixels that no other view saw (the regions the pipeline asks the net to
fill; they border known depth by construction), ``frame`` = monocular samples' whole frames.
"""

from __future__ import annotations

import numpy as np
import torch

from core.depth_metrics import ErrorSums, error_sums, median_scaled
from training.completion_dataset import Batch


class NetworkEstimator:
    """The network under evaluation as a ``DepthEstimator`` (nothing known: its monocular prediction)."""

    name = "network"

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model

    @torch.inference_mode()
    def __call__(self, image: np.ndarray) -> np.ndarray:
        device = next(self.model.parameters()).device
        rgb = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float().to(device) / 255.0
        zeros = torch.zeros_like(rgb[:, :1])
        return self.model(rgb, zeros, zeros)[0, 0].float().cpu().numpy()


def baseline_completers(model: torch.nn.Module, names: tuple[str, ...] | None = None) -> dict[str, object]:
    """The benchmark's baselines by name, built by the registry; ``aligned-mono`` aligns ``model``."""
    from core.backends.aligned_mono import AlignedMono
    from core.backends.registry import COMPLETION_BASELINES, build_depth_completer

    out: dict[str, object] = {}
    for name in names if names is not None else COMPLETION_BASELINES:
        out[name] = AlignedMono(NetworkEstimator(model)) if name == "aligned-mono" else build_depth_completer(name)
    return out


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy()


@torch.inference_mode()
def evaluate(model: torch.nn.Module, batches: list[Batch], *, baselines: bool = False) -> dict[str, float]:
    """Metrics (absrel, delta1, mae, rmse, n) as flat ``{region}_{metric}`` keys, pooled over pixels.

    ``hole_*``: the net completing holes; ``frame_*``: the net as a monocular estimator on whole frames;
    ``frame_scaled_*``: the same with each frame scaled to the true median depth (shape only, no global scale);
    ``known_mae``: how far the raw prediction strays from the known depth (before :meth:`meet_known`). With
    ``baselines``: ``{name}_hole_*`` for every baseline of :func:`baseline_completers` on the very same hole
    pixels, and ``constant_frame_scaled_*`` (a constant depth per frame, median-scaled) on the frames.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    completers = baseline_completers(model) if baselines else {}
    sums: dict[str, ErrorSums] = {}

    def add(region: str, pred: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> None:
        sums[region] = sums.get(region, ErrorSums()) + error_sums(pred, gt, mask)

    try:
        for b in batches:
            rgb, kd, kn = b.rgb.to(device), b.known_depth.to(device), b.known.float().to(device)
            raw_log = model.predict_log(rgb, kd, kn)
            pred = _np(model.depth_from_log(model.meet_known(raw_log, kd, kn)))
            raw = _np(model.depth_from_log(raw_log))
            for i in range(pred.shape[0]):
                target, known = _np(b.target[i, 0]), b.known[i, 0].numpy()
                if bool(b.completion[i]):
                    hole = b.hole[i, 0].numpy()
                    add("hole", pred[i, 0], target, hole)
                    add("known", raw[i, 0], _np(b.known_depth[i, 0]), known)
                    if completers:
                        image = (b.rgb[i].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
                        depth = _np(b.known_depth[i, 0])
                        for name, completer in completers.items():
                            add(f"{name}_hole", completer(image, depth, known), target, hole)
                else:
                    frame = b.target_valid[i, 0].numpy()
                    add("frame", pred[i, 0], target, frame)
                    add("frame_scaled", median_scaled(pred[i, 0], target, frame), target, frame)
                    if baselines:  # the floor for the shape: one constant depth per frame, scaled the same way
                        flat = median_scaled(np.ones_like(target), target, frame)
                        add("constant_frame_scaled", flat, target, frame)
    finally:
        model.train(was_training)
    out: dict[str, float] = {}
    for region, total in sums.items():
        metrics = total.metrics()
        if region == "known":
            out["known_mae"] = metrics["mae"]
            continue
        out.update({f"{region}_{k}": v for k, v in metrics.items()})
        out[f"{region}_n"] = total.n
    return out
