"""Quaternions, covariances, SH and the OpenCV <-> OpenGL flip."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import random_gaussians

from core.camera import Camera, Intrinsics, look_at
from core.gaussians.axes import flip_yz, from_axes, to_axes
from core.gaussians.model import (
    Gaussians,
    covariance_3d,
    quat_to_rotmat,
    rgb_to_sh_dc,
    rotmat_to_quat,
    sh_dc_to_rgb,
)
from core.gaussians.rasterize import rasterize_reference
from core.gaussians.sh import eval_sh_colors


def test_quaternion_rotation_round_trip():
    q = torch.nn.functional.normalize(torch.randn(500, 4, generator=torch.Generator().manual_seed(1)), dim=1)
    R = quat_to_rotmat(q)
    assert torch.allclose(R @ R.transpose(1, 2), torch.eye(3).expand(500, 3, 3), atol=1e-5)
    assert torch.allclose(torch.linalg.det(R), torch.ones(500), atol=1e-5)
    assert torch.allclose(quat_to_rotmat(rotmat_to_quat(R)), R, atol=1e-5)


def test_covariance_is_rotated_diagonal():
    q = torch.tensor([[math.cos(math.pi / 8), 0.0, 0.0, math.sin(math.pi / 8)]])  # 45 deg about z
    cov = covariance_3d(q, torch.log(torch.tensor([[2.0, 1.0, 0.5]])))[0]
    assert torch.allclose(torch.linalg.eigvalsh(cov), torch.tensor([0.25, 1.0, 4.0]), atol=1e-5)
    assert cov[0, 1] == pytest.approx(1.5, abs=1e-5)  # (4 - 1) / 2 for a 45 degree turn


def test_dc_colour_round_trip_and_sh_view_dependence():
    rgb = torch.rand(10, 3)
    assert torch.allclose(sh_dc_to_rgb(rgb_to_sh_dc(rgb)), rgb, atol=1e-6)
    sh = torch.zeros(1, 4, 3)
    sh[0, 0] = rgb_to_sh_dc(torch.tensor([0.5, 0.5, 0.5]))
    sh[0, 2] = 0.4  # the band-1 z term: brighter seen along +z than along -z
    front = eval_sh_colors(sh, torch.tensor([[0.0, 0.0, 1.0]]))
    back = eval_sh_colors(sh, torch.tensor([[0.0, 0.0, -1.0]]))
    assert (front > 0.6).all() and (back < 0.4).all()


def test_gaussians_validate_shapes():
    with pytest.raises(AssertionError):
        Gaussians(torch.zeros(2, 3), torch.zeros(2, 4), torch.zeros(2, 3), torch.zeros(3), torch.zeros(2, 1, 3))
    with pytest.raises(ValueError):
        Gaussians(torch.zeros(2, 3), torch.zeros(2, 4), torch.zeros(2, 3), torch.zeros(2), torch.zeros(2, 5, 3))


def test_opengl_flip_is_a_rigid_turn_that_renders_identically():
    """Flipped Gaussians seen by the flipped camera give the same image, view-dependent colour included."""
    g = random_gaussians(60, sh_degree=3, seed=3)
    cam = Camera(Intrinsics.from_fov(40, 30), look_at(torch.tensor([0.3, -0.2, -0.5]), torch.tensor([0.0, 0.0, 3.0])))
    turn = torch.diag(torch.tensor([1.0, -1.0, -1.0, 1.0]))
    flipped_cam = Camera(cam.intrinsics, turn @ cam.cam_to_world)  # the world turns, the camera goes with it
    a = rasterize_reference(g, cam).image
    b = rasterize_reference(flip_yz(g), flipped_cam).image
    assert a.abs().sum() > 1.0
    assert torch.allclose(a, b, atol=1e-4)
    back = from_axes(to_axes(g, "opengl"), "opengl")
    for k, v in g.tensors().items():
        assert torch.allclose(getattr(back, k), v, atol=1e-6), k
