"""The planar extrapolation fill continues oblique planes, stays bounded where a plane would run off, keeps
the known depth, is scale-equivariant, and is the same fill as a registry baseline and as a network prior."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.depthnet.plane import MAX_RATIO, _box_sum, plane_fill


def _pinhole_plane(H: int, W: int, normal: tuple[float, float, float], offset: float, f: float = 100.0) -> np.ndarray:
    """Metric depth of the plane ``n . X = offset`` seen by a pinhole camera (focal ``f`` px, centred principal
    point): along the ray (u, v, f)/f the point at depth z satisfies z * n . ray = offset."""
    v, u = np.mgrid[0:H, 0:W].astype(np.float64)
    rays = np.stack([(u - W / 2) / f, (v - H / 2) / f, np.ones_like(u)], -1)
    return offset / (rays @ np.asarray(normal))


def _fill(depth: np.ndarray, known: np.ndarray) -> np.ndarray:
    logd = torch.from_numpy(np.log(np.where(known, depth, 1.0)))[None, None]
    return np.exp(plane_fill(logd, torch.from_numpy(known)[None, None])[0, 0].numpy())


def test_box_sum_matches_a_brute_force_window_sum() -> None:
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(2, 3, 9, 14)))
    r = 3
    padded = torch.nn.functional.pad(x, (r, r, r, r))
    brute = sum(padded[..., dy : dy + 9, dx : dx + 14] for dy in range(2 * r + 1) for dx in range(2 * r + 1))
    torch.testing.assert_close(_box_sum(x, r), brute)


def test_an_oblique_wall_continues_into_an_out_of_view_strip() -> None:
    # A wall turned 35 degrees about the vertical axis, plus a floor-like tilt: depth changes by ~1.6x across the
    # image, so constant-depth fills are badly wrong in the strip and the plane is right.
    H, W = 48, 80
    theta = np.deg2rad(35)
    depth = _pinhole_plane(H, W, (np.sin(theta), 0.1, np.cos(theta)), 3.0)
    known = np.ones((H, W), bool)
    known[:, 56:] = False  # the strip a camera turning right reveals
    filled = _fill(depth, known)
    np.testing.assert_allclose(filled[known], depth[known], rtol=1e-12)
    # to 0.1%: what is left is the slope ridge's shrinkage in the edge's half-clipped windows
    np.testing.assert_allclose(filled[~known], depth[~known], rtol=1e-3)
    nearest_err = np.abs(depth[:, 55:56] - depth[:, 56:]).mean()
    assert nearest_err > 0.2  # the gap a constant continuation leaves (metres), which the plane closes


def test_a_plane_running_off_to_infinity_is_clamped_to_the_ratio_bound() -> None:
    # A floor seen nearly edge-on: continued far enough its inverse depth crosses zero (depth -> infinity).
    H, W = 40, 60
    depth = _pinhole_plane(H, W, (0.0, 1.0, 0.05), 1.0)
    depth = np.where(depth > 0, depth, 1.0)
    known = np.zeros((H, W), bool)
    known[30:, :] = True  # only the near rows known: the hole is the rows above, toward the horizon
    depth[:30] = 0
    filled = _fill(depth, known)
    assert np.isfinite(filled).all() and (filled > 0).all()
    source = depth[30]  # each hole pixel's nearest known pixel is on the first known row of its column
    assert (filled[:30] <= source[None] * MAX_RATIO * (1 + 1e-9)).all()
    assert (filled[:30] >= source[None] / MAX_RATIO * (1 - 1e-9)).all()
    assert (np.diff(filled[:30], axis=0) <= 1e-9).all()  # farther toward the horizon, as the floor is


def test_scale_equivariance_batch_independence_and_empty_images() -> None:
    rng = np.random.default_rng(1)
    H, W = 30, 44
    logd = torch.from_numpy(rng.normal(size=(2, 1, H, W)).cumsum(-1) / 10 + 1.0)
    known = torch.from_numpy(rng.random((2, 1, H, W)) > 0.4)
    known[..., 10:20, 15:35] = False
    both = plane_fill(logd, known)
    torch.testing.assert_close(plane_fill(logd + np.log(7.0), known), both + np.log(7.0))
    torch.testing.assert_close(plane_fill(logd[1:], known[1:]), both[1:])
    torch.testing.assert_close(both[known], logd[known])
    empty = plane_fill(logd[:1], torch.zeros_like(known[:1]))
    assert float(empty.abs().max()) == 0.0


def test_registry_baseline_and_network_prior_are_the_same_fill() -> None:
    from core.backends.registry import COMPLETION_BASELINES, build_depth_completer
    from core.depthnet.model import _FILL_PRIORS

    assert "plane" in COMPLETION_BASELINES
    H, W = 36, 52
    depth = _pinhole_plane(H, W, (0.3, 0.2, 0.93), 2.5).astype(np.float32)
    known = np.ones((H, W), bool)
    known[:, :14] = False
    known[20:30, 25:40] = False
    image = np.zeros((H, W, 3), np.uint8)
    baseline = build_depth_completer("plane")(image, np.where(known, depth, 0), known)
    assert baseline.dtype == np.float32 and baseline.shape == (H, W)
    np.testing.assert_allclose(baseline, depth, rtol=1e-3)
    ratio = torch.from_numpy(np.log(np.where(known, depth, 1.0)) - np.log(2.5))[None, None].float()
    prior = _FILL_PRIORS["plane"](ratio, torch.from_numpy(known)[None, None].float())
    np.testing.assert_allclose(np.exp(prior[0, 0].numpy() + np.log(2.5)), baseline, rtol=1e-4)
    with pytest.raises(ValueError, match="known"):
        build_depth_completer("plane")(image, depth, np.zeros((H, W), bool))
