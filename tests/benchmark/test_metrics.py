"""Every metric against values worked out by hand on tiny maps."""

import math

import numpy as np
import pytest

from benchmark.metrics import depth_errors, pixel_sets, score


def test_depth_errors_match_hand_computed_values():
    gt = np.array([[1.0, 2.0], [4.0, 5.0]], dtype=np.float32)
    pred = np.array([[1.5, 2.0], [3.0, 10.0]], dtype=np.float32)
    mask = np.array([[True, True], [True, False]])
    # errors on the mask: +0.5, 0, -1  ->  MAE 1.5/3, RMSE sqrt(1.25/3), AbsRel (0.5 + 0 + 0.25)/3
    # ratios max(p/g, g/p): 1.5, 1, 4/3  ->  only the middle one below 1.25
    e = depth_errors(pred, gt, mask)
    assert e["mae"] == pytest.approx(0.5)
    assert e["rmse"] == pytest.approx(math.sqrt(1.25 / 3))
    assert e["absrel"] == pytest.approx(0.25)
    assert e["delta1"] == pytest.approx(1 / 3)


def test_delta1_threshold_is_strict_and_symmetric():
    gt = np.array([[1.0, 1.0, 1.0]])
    pred = np.array([[1.24, 1 / 1.24, 1.25]])
    e = depth_errors(pred, gt, np.ones_like(gt, dtype=bool))
    assert e["delta1"] == pytest.approx(2 / 3)


def test_missing_prediction_counts_as_failure_not_skipped():
    gt = np.array([[2.0, 2.0]])
    pred = np.array([[np.nan, 0.0]])
    e = depth_errors(pred, gt, np.ones_like(gt, dtype=bool))
    assert e["mae"] == pytest.approx(2.0)
    assert e["delta1"] == 0.0


def test_empty_pixel_set_gives_nan():
    e = depth_errors(np.ones((2, 2)), np.ones((2, 2)), np.zeros((2, 2), bool))
    assert all(math.isnan(v) for v in e.values())


def test_pixel_sets_hole_seam_and_invalid_ground_truth():
    gt = np.ones((1, 8), dtype=np.float32)
    gt[0, 7] = 0.0  # no ground truth
    known = np.zeros((1, 8), bool)
    known[0, :2] = True
    sets = pixel_sets(gt, known, seam_px=2)
    assert sets.valid.tolist() == [[True] * 7 + [False]]
    assert sets.hole.tolist() == [[False, False, True, True, True, True, True, False]]
    assert sets.seam.tolist() == [[False, False, True, True, False, False, False, False]]


def test_score_on_hole_seam_and_all():
    gt = np.full((1, 6), 2.0, dtype=np.float32)
    known = np.array([[True, True, False, False, False, False]])
    pred = np.array([[2.0, 2.0, 3.0, 2.0, 2.0, 1.0]], dtype=np.float32)
    s = score(pred, gt, known, seam_px=1)
    assert s["n_hole"] == 4 and s["n_seam"] == 1
    assert s["mae_hole"] == pytest.approx(2.0 / 4)  # |1| + 0 + 0 + |1|
    assert s["rmse_hole"] == pytest.approx(math.sqrt(2.0 / 4))
    assert s["absrel_hole"] == pytest.approx(0.25)
    assert s["delta1_hole"] == pytest.approx(0.5)  # 3/2 and 2/1 both fail
    assert s["mae_seam"] == pytest.approx(1.0)  # only column 2, error 1
    assert s["mae_all"] == pytest.approx(2.0 / 6)
    assert s["delta1_all"] == pytest.approx(4 / 6)


def test_score_rejects_mismatched_shapes():
    with pytest.raises(ValueError):
        score(np.ones((2, 3)), np.ones((3, 2)), np.zeros((3, 2), bool))
