"""Monocular depth aligned by least-squares scale and shift, blended at the seam."""

import numpy as np
import pytest

from core.backends.aligned_mono import AlignedMono, blend_seam, fit_scale_shift


class AffineOf:
    """A DepthEstimator whose output is an affine function of a fixed depth map (what alignment must undo)."""

    name = "affine-of-fixed"

    def __init__(self, depth, scale, shift):
        self.out = (depth * scale + shift).astype(np.float32)

    def __call__(self, image):
        return self.out


def test_fit_scale_shift_solves_the_normal_equations():
    p = np.array([1.0, 2.0, 3.0, 4.0])
    q = 2.5 * p - 0.7
    s, t = fit_scale_shift(p, q)
    assert s == pytest.approx(2.5) and t == pytest.approx(-0.7)
    # noisy: compare with numpy's least squares
    rng = np.random.default_rng(1)
    q2 = q + rng.normal(0, 0.1, 4)
    A = np.stack([p, np.ones_like(p)], 1)
    ref = np.linalg.lstsq(A, q2, rcond=None)[0]
    assert np.allclose(fit_scale_shift(p, q2), ref)


def test_fit_falls_back_to_a_positive_scale_for_a_useless_prediction():
    s, t = fit_scale_shift(np.full(5, 2.0), np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert s == pytest.approx(1.5) and t == 0.0


def test_aligned_mono_recovers_depth_up_to_affine_distortion():
    rng = np.random.default_rng(0)
    gt = rng.uniform(1, 4, (24, 32)).astype(np.float32)
    known = np.zeros_like(gt, bool)
    known[:, :12] = True
    completer = AlignedMono(AffineOf(gt, 0.3, 0.5))
    out = completer(np.zeros((24, 32, 3), np.uint8), np.where(known, gt, 0), known)
    np.testing.assert_allclose(out, gt, rtol=1e-5)
    assert completer.name == "aligned-mono:affine-of-fixed"


def test_without_known_depth_the_estimate_is_returned_unchanged():
    est = AffineOf(np.full((4, 4), 2.0), 1.0, 0.0)
    out = AlignedMono(est)(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), np.float32), np.zeros((4, 4), bool))
    np.testing.assert_array_equal(out, est.out)


def test_seam_blend_removes_the_step_at_the_border_and_fades_with_distance():
    aligned = np.full((1, 10), 2.0)
    depth = np.zeros((1, 10))
    depth[0, :3] = 3.0
    known = depth > 0
    out = blend_seam(aligned, depth, known, blend_px=2.0)
    assert out[0, :3].tolist() == [3.0, 3.0, 3.0]
    assert out[0, 3] == pytest.approx(2.0 + np.exp(-0.5))  # 1 px from the known region
    assert np.all(np.diff(out[0, 3:]) < 0) and out[0, 9] == pytest.approx(2.0 + np.exp(-3.5))
