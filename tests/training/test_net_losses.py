"""Losses and metrics of the depth network, checked against hand-computed values."""

from __future__ import annotations

import math

import torch

from training.losses import consistency_loss, relative_l1_loss, silog_loss


def test_silog_is_zero_for_exact_and_scale_invariant_at_lambda_one() -> None:
    target = 1 + torch.rand(2, 1, 8, 8)
    valid = torch.ones_like(target, dtype=torch.bool)
    assert float(silog_loss(target.log(), target, valid)) < 1e-3
    assert float(silog_loss((2 * target).log(), target, valid, lam=1.0)) < 1e-3
    # lam=0 is the log RMSE: a uniform factor 2 costs exactly log 2.
    assert math.isclose(float(silog_loss((2 * target).log(), target, valid, lam=0.0)), math.log(2), rel_tol=1e-5)


def test_silog_ignores_invalid_pixels_and_images_without_targets() -> None:
    target = torch.ones(2, 1, 4, 4)
    pred = torch.zeros(2, 1, 4, 4)
    pred[0, 0, 0, 0] = 5.0
    valid = torch.ones_like(target, dtype=torch.bool)
    valid[0, 0, 0, 0] = False
    valid[1] = False
    assert float(silog_loss(pred, target, valid)) < 1e-3


def test_consistency_is_mean_squared_log_error_on_known() -> None:
    known_depth = torch.full((1, 1, 2, 2), 2.0)
    known = torch.tensor([[[[True, False], [False, False]]]])
    pred = torch.zeros(1, 1, 2, 2)
    assert math.isclose(float(consistency_loss(pred, known_depth, known)), math.log(2) ** 2, rel_tol=1e-5)
    assert float(consistency_loss(pred, known_depth, torch.zeros_like(known))) == 0.0


def test_relative_l1_is_metres_over_the_image_scale_in_the_region() -> None:
    target = torch.tensor([[2.0, 4.0], [8.0, 0.0]]).view(1, 1, 2, 2)
    pred_log = torch.tensor([[3.0, 4.0], [4.0, 1.0]]).view(1, 1, 2, 2).log()
    region = torch.tensor([[True, True], [False, True]]).view(1, 1, 2, 2)  # target 0 at the last: ignored
    log_scale = torch.tensor([math.log(2.0)])
    # errors 1 m and 0 m, divided by the scale 2: mean (0.5 + 0) / 2
    assert math.isclose(float(relative_l1_loss(pred_log, target, region, log_scale)), 0.25, rel_tol=1e-6)
    # the same scene at 10x the scale (prediction, target and scale) costs the same
    scaled = relative_l1_loss(pred_log + math.log(10), 10 * target, region, log_scale + math.log(10))
    assert math.isclose(float(scaled), 0.25, rel_tol=1e-5)
    # a far pixel's error counts in metres: off by 10% at 8 m costs 4x what 10% at 2 m does
    far = torch.tensor([[False, False], [True, False]]).view(1, 1, 2, 2)
    near = torch.tensor([[True, False], [False, False]]).view(1, 1, 2, 2)
    off = (target * 1.1).clamp_min(1e-6).log()
    ratio = relative_l1_loss(off, target, far, log_scale) / relative_l1_loss(off, target, near, log_scale)
    assert math.isclose(float(ratio), 4.0, rel_tol=1e-5)
    empty = relative_l1_loss(pred_log.requires_grad_(), target, torch.zeros_like(region), log_scale)
    assert float(empty) == 0.0 and empty.requires_grad
