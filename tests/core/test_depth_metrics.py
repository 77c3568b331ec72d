"""The shared depth metrics: hand-computed values, pooling by sums, the failure and empty-region rules."""

from __future__ import annotations

import math

import numpy as np

from core.depth_metrics import ErrorSums, depth_errors, error_sums, median_scaled


def test_sums_pool_exactly_over_pixels() -> None:
    rng = np.random.default_rng(0)
    gt = rng.uniform(1, 5, (6, 8)).astype(np.float32)
    pred = gt * rng.uniform(0.7, 1.4, gt.shape).astype(np.float32)
    left, right = np.zeros_like(gt, bool), np.zeros_like(gt, bool)
    left[:, :3], right[:, 3:] = True, True
    pooled = (error_sums(pred, gt, left) + error_sums(pred, gt, right)).metrics()
    whole = depth_errors(pred, gt)
    for k in whole:
        assert math.isclose(pooled[k], whole[k], rel_tol=1e-12)


def test_hand_values_bad_predictions_and_empty_regions() -> None:
    gt = np.array([[1.0, 2.0, 4.0, 0.0]], np.float32)
    pred = np.array([[1.0, 3.0, -1.0, 9.0]], np.float32)  # the negative prediction is a failure (counts as 0)
    m = depth_errors(pred, gt)
    assert math.isclose(m["mae"], (0 + 1 + 4) / 3) and math.isclose(m["absrel"], (0 + 0.5 + 1) / 3)
    assert math.isclose(m["delta1"], 1 / 3)
    assert all(math.isnan(v) for v in depth_errors(pred, gt, np.zeros_like(gt, bool)).values())
    assert ErrorSums().metrics()["mae"] != ErrorSums().metrics()["mae"]  # NaN, never a perfect 0


def test_median_scaled_recovers_a_scaled_prediction() -> None:
    gt = np.linspace(1, 4, 12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_allclose(median_scaled(gt / 3, gt), gt, rtol=1e-6)
