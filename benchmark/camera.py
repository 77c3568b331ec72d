"""``gld8tr benchmark --task camera``: how well each method recovers the camera (field of view, focal length,
depth shift) of a single depth map, and what that does to the point cloud the user gets.

Each sample is a frame with known depth and focal length, given to the methods as the pipeline would: the depth
map alone, either metric (``scenario=metric``: only the focal is unknown) or affine-invariant
(``scenario=relative``: normalised and shifted by a known amount, as a relative depth model's output would be
off). Methods (:data:`CAMERA_METHODS`) are the modes of :func:`core.camera_recovery.estimate_camera`: the
trained point-cloud ``module``, the ``geometric`` search, and the ``fixed`` 53.13-degree default (no shift).

Metrics per sample: ``fov_err_deg`` = |FOV - true FOV|, ``focal_rel_err`` = |f - f_true| / f_true,
``shift_err`` = |shift - true shift| in units of the observed depth's 98th percentile, and ``point_err`` =
mean over valid pixels of ||s P - P_true|| / ||P_true||, where P is the cloud lifted with the method's depth
shift and focal (principal point at the centre, as the pipeline assumes), P_true the true cloud (true
intrinsics) and s the least-squares global scale (a single photo cannot know it). Results: ``samples.csv`` (one
row per sample and method), ``summary.csv`` and ``summary.md`` (median and mean per dataset, scenario, method).
"""

from __future__ import annotations

import csv
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

CAMERA_METHODS = ("module", "module+refine", "geometric", "fixed")
CAMERA_DATASETS = ("synthetic", "middlebury")
SCENARIOS = ("metric", "relative", "predicted")
SYNTH_SIZE = (120, 160)
SYNTH_FOV_RANGE = (35.0, 100.0)
SHIFT_RANGE = (-0.25, 0.8)
MIDDLEBURY_SHIFTS = 8
"""The one real frame is scored under this many drawn shifts in the relative scenario."""
SAMPLE_FIELDS = ("dataset", "scenario", "sample_id", "method", "fov_true_deg", "fov_deg", "fov_err_deg",
                 "focal_rel_err", "shift_true", "shift", "shift_err", "point_err", "fallback", "seconds")
SUMMARY_FIELDS = ("dataset", "scenario", "method", "samples", "fov_err_med_deg", "fov_err_mean_deg",
                  "focal_rel_err_med", "shift_err_med", "point_err_med", "point_err_mean", "sec_per_sample")


@dataclass
class CameraSample:
    """``depth`` [H, W] the method sees (0 = unknown); ``true_depth`` [H, W] and ``K`` [3, 3] the truth;
    ``shift_n`` the true shift in units of the observed depth's 98th percentile (true ~ depth - shift)."""

    sample_id: str
    scenario: str
    depth: np.ndarray
    true_depth: np.ndarray
    K: np.ndarray
    shift_n: float


def shifted(depth: np.ndarray, shift: float) -> tuple[np.ndarray, float]:
    """Affine-invariant version of metric ``depth``: normalised, shifted (raised so depth stays positive),
    renormalised; returns the observed depth and its true shift in its own units (exactly invertible)."""
    import torch

    from core.camera_recovery.geometry import distort

    valid = depth > 0
    d = torch.from_numpy(np.where(valid, depth, 0).astype(np.float32)).reshape(1, -1)
    v = torch.from_numpy(valid).reshape(1, -1)
    uv = torch.zeros(1, d.shape[1], 2)
    c = distort(d, uv, v, torch.ones(1), torch.tensor([shift]), torch.ones(1))
    return c.depth_n.reshape(depth.shape).numpy(), float(c.shift[0])


@lru_cache(maxsize=1)
def _depth_estimator():
    from core.backends.registry import build_depth_estimator

    return build_depth_estimator("gld8tr")


def _predicted_depth(image: np.ndarray) -> np.ndarray:
    """Depth of the shipped estimator (the monocular checkpoint: the pipeline's default first-view depth)."""
    return _depth_estimator()(image)


def synthetic_samples(limit: int, seed: int = 0, predicted: bool = False) -> Iterator[CameraSample]:
    """Held-out synthetic frames (validation seeds from ``VALIDATION_SEED_START + 500_000``), one per scene."""
    from benchmark.datasets import BENCHMARK_SEED_OFFSET
    from training.synth import SyntheticReader

    reader = SyntheticReader(limit, 1, *SYNTH_SIZE, seed=BENCHMARK_SEED_OFFSET + seed, split="val",
                             shadows=False, fov_range_deg=SYNTH_FOV_RANGE)
    rng = np.random.default_rng([seed, 12])
    for sid in reader.scene_ids():
        f = reader.frames(sid)[0]
        t = float(rng.uniform(*SHIFT_RANGE))
        yield CameraSample(sid, "metric", f.depth, f.depth, f.K, 0.0)
        obs, t_n = shifted(f.depth, t)
        yield CameraSample(sid, "relative", obs, f.depth, f.K, t_n)
        if predicted:
            yield CameraSample(sid, "predicted", _predicted_depth(f.image), f.depth, f.K, 0.0)


def middlebury_samples(seed: int = 0, predicted: bool = False) -> Iterator[CameraSample]:
    """The real left frame of Middlebury motorcycle (measured depth, calibrated focal 994.978 px)."""
    from training.data.middlebury import MiddleburyReader

    f = MiddleburyReader(virtual_moves=False).frames("motorcycle")[0]
    yield CameraSample("motorcycle", "metric", f.depth, f.depth, f.K, 0.0)
    if predicted:
        yield CameraSample("motorcycle", "predicted", _predicted_depth(f.image), f.depth, f.K, 0.0)
    rng = np.random.default_rng([seed, 13])
    for i in range(MIDDLEBURY_SHIFTS):
        obs, t_n = shifted(f.depth, float(rng.uniform(*SHIFT_RANGE)))
        yield CameraSample(f"motorcycle-shift{i}", "relative", obs, f.depth, f.K, t_n)


def point_error(depth: np.ndarray, shift: float, focal_px: float, true_depth: np.ndarray, K: np.ndarray) -> float:
    """Scale-aligned relative point error (see the module docstring); depth and shift in the same units."""
    H, W = depth.shape
    valid = (true_depth > 0) & (depth > 0)
    v, u = np.nonzero(valid)
    z = np.maximum(depth[valid].astype(np.float64) - shift, 1e-9)
    cx, cy = (W - 1) / 2, (H - 1) / 2
    P = np.stack([(u - cx) * z / focal_px, (v - cy) * z / focal_px, z], axis=1)
    zt = true_depth[valid].astype(np.float64)
    Pt = np.stack([(u - K[0, 2]) * zt / K[0, 0], (v - K[1, 2]) * zt / K[1, 1], zt], axis=1)
    s = float((P * Pt).sum() / max((P * P).sum(), 1e-30))
    return float(np.mean(np.linalg.norm(s * P - Pt, axis=1) / np.linalg.norm(Pt, axis=1)))


def score(sample: CameraSample, method: str, model=None) -> dict[str, object]:
    """One sample through one method: the row of ``samples.csv``."""
    from core.camera_recovery import estimate_camera

    H, W = sample.depth.shape
    t0 = time.perf_counter()
    est = estimate_camera(sample.depth, method=method, estimate_shift=sample.scenario == "relative", model=model)
    seconds = time.perf_counter() - t0
    f_true = float(sample.K[0, 0])
    fov_true = math.degrees(2 * math.atan(0.5 * W / f_true))
    valid = sample.depth > 0
    scale = float(np.percentile(sample.depth[valid], 98)) if valid.any() else 1.0
    return {
        "dataset": "", "scenario": sample.scenario, "sample_id": sample.sample_id, "method": method,
        "fov_true_deg": fov_true, "fov_deg": est.fov_x_deg, "fov_err_deg": abs(est.fov_x_deg - fov_true),
        "focal_rel_err": abs(est.focal_px - f_true) / f_true, "shift_true": sample.shift_n,
        "shift": est.shift / scale, "shift_err": abs(est.shift / scale - sample.shift_n),
        "point_err": point_error(sample.depth, est.shift, est.focal_px, sample.true_depth, sample.K),
        "fallback": est.fallback_reason or "", "seconds": seconds,
    }


def summarise(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """Median / mean per (dataset, scenario, method), in the order first seen."""
    groups: dict[tuple[str, str, str], list[dict[str, object]]] = {}
    for r in rows:
        groups.setdefault((str(r["dataset"]), str(r["scenario"]), str(r["method"])), []).append(r)
    out = []
    for (dataset, scenario, method), rs in groups.items():
        col = {k: np.array([float(r[k]) for r in rs]) for k in ("fov_err_deg", "focal_rel_err", "shift_err",
                                                                  "point_err", "seconds")}
        out.append({"dataset": dataset, "scenario": scenario, "method": method, "samples": len(rs),
                    "fov_err_med_deg": float(np.median(col["fov_err_deg"])),
                    "fov_err_mean_deg": float(col["fov_err_deg"].mean()),
                    "focal_rel_err_med": float(np.median(col["focal_rel_err"])),
                    "shift_err_med": float(np.median(col["shift_err"])),
                    "point_err_med": float(np.median(col["point_err"])),
                    "point_err_mean": float(col["point_err"].mean()),
                    "sec_per_sample": float(col["seconds"].mean())})
    return out


def markdown(summary: list[dict[str, object]]) -> str:
    head = ("| dataset | scenario | method | n | FOV err med / mean (deg) | focal rel err med | shift err med "
            "| point err med / mean | s / sample |")
    lines = [head, "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for s in summary:
        shift = "-" if s["scenario"] == "metric" else f"{s['shift_err_med']:.3f}"
        lines.append(f"| {s['dataset']} | {s['scenario']} | {s['method']} | {s['samples']} "
                     f"| {s['fov_err_med_deg']:.2f} / {s['fov_err_mean_deg']:.2f} | {s['focal_rel_err_med']:.3f} "
                     f"| {shift} | {s['point_err_med']:.4f} / {s['point_err_mean']:.4f} "
                     f"| {s['sec_per_sample']:.2f} |")
    return "\n".join(lines) + "\n"


def run_camera_benchmark(dataset: str, out: Path, *, methods: list[str], limit: int | None, seed: int = 0,
                         model_path: str | None = None, progress: bool = True,
                         predicted: bool = False) -> list[dict[str, object]]:
    """Score every sample of ``dataset`` with every method; write samples.csv, summary.csv, summary.md."""
    from tqdm import tqdm

    from core.camera_recovery.recover import load_module

    model = load_module(model_path) if any(m.startswith("module") for m in methods) else None
    samples = (synthetic_samples(limit or 50, seed, predicted) if dataset == "synthetic"
               else middlebury_samples(seed, predicted))
    rows = []
    for sample in tqdm(list(samples), desc=f"camera {dataset}", unit="sample", disable=not progress):
        for m in methods:
            row = score(sample, m, model)
            row["dataset"] = dataset
            rows.append(row)
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(out / "samples.csv", SAMPLE_FIELDS, rows)
    summary = summarise(rows)
    _write_csv(out / "summary.csv", SUMMARY_FIELDS, summary)
    (out / "summary.md").write_text(markdown(summary))
    return summary


def _write_csv(path: Path, fields: tuple[str, ...], rows: list[dict[str, object]]) -> None:
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
