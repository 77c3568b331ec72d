"""One evaluation stack: training validation and the benchmark score the same baselines with the same code."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from benchmark.metrics import score
from core.backends.registry import COMPLETION_BASELINES, build_depth_completer
from core.depthnet import DepthCompletionNet, DepthNetConfig
from training.completion_dataset import Batch
from training.evaluate import evaluate


def _sample(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    h, w = 24, 32
    gt = (2 + np.cumsum(rng.normal(0, 0.05, (h, w)), axis=1)).astype(np.float32)
    gt[0, 0] = 0  # invalid ground truth is never scored
    image = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
    known = np.zeros((h, w), bool)
    known[:, : w // 2] = True
    return {"rgb": image, "known_depth": np.where(known, gt, 0).astype(np.float32), "target": gt,
            "completion": np.bool_(True)}


@pytest.fixture(scope="module")
def model() -> DepthCompletionNet:
    torch.manual_seed(0)
    return DepthCompletionNet(DepthNetConfig(base_channels=4, channel_mults=(1, 2), groups=2)).eval()


def test_validation_reports_every_benchmark_baseline_by_its_benchmark_name(model: DepthCompletionNet) -> None:
    samples = [_sample(0), _sample(1)]
    metrics = evaluate(model, [Batch.collate(samples)], baselines=True)
    for name in COMPLETION_BASELINES:
        assert f"{name}_hole_mae" in metrics
    # Pooled over both samples' hole pixels, exactly what the benchmark's metric code gives per sample.
    for name in ("nearest", "colorization", "bilateral"):
        completer = build_depth_completer(name)
        per = [score(completer(s["rgb"], s["known_depth"], s["known_depth"] > 0), s["target"], s["known_depth"] > 0)
               for s in samples]
        pooled = sum(p["mae_hole"] * p["n_hole"] for p in per) / sum(p["n_hole"] for p in per)
        assert math.isclose(metrics[f"{name}_hole_mae"], pooled, rel_tol=1e-6), name
    assert metrics["hole_n"] == sum(p["n_hole"] for p in per)


def test_validation_without_baselines_has_net_rows_only(model: DepthCompletionNet) -> None:
    mono = _sample(2) | {"known_depth": np.zeros((24, 32), np.float32), "completion": np.bool_(False)}
    metrics = evaluate(model, [Batch.collate([_sample(3), mono])])
    assert {"hole_mae", "frame_mae", "frame_scaled_mae", "known_mae"} <= set(metrics)
    assert not any(k.startswith(("nearest", "aligned-mono")) for k in metrics)
