"""Camera conventions: the maps between pixels and points invert each other, and poses turn the way we say."""

import math

import pytest
import torch

from core.camera import (
    Intrinsics,
    invert_pose,
    look_at,
    pose_from_yaw_pitch,
    project_points,
    unproject_depth,
)


def test_fov_and_focal_agree():
    intr = Intrinsics.from_fov(640, 480, 53.13)
    assert intr.fx == pytest.approx(640, rel=1e-3)  # focal = width at the default FOV
    assert intr.fov_x_deg == pytest.approx(53.13, abs=1e-6)
    assert (intr.cx, intr.cy) == (319.5, 239.5)


def test_unproject_then_project_returns_pixels():
    gen = torch.Generator().manual_seed(0)
    intr = Intrinsics.from_fov(64, 48, 70.0)
    depth = 1.0 + 4.0 * torch.rand(48, 64, generator=gen)
    pose = pose_from_yaw_pitch(30.0, -10.0, (0.2, -0.1, 0.3))
    pts = unproject_depth(depth, intr.matrix(), pose).reshape(-1, 3)
    uv, z = project_points(pts, intr.matrix(), invert_pose(pose))
    v, u = torch.meshgrid(torch.arange(48.0), torch.arange(64.0), indexing="ij")
    assert torch.allclose(uv[:, 0], u.reshape(-1), atol=1e-3)
    assert torch.allclose(uv[:, 1], v.reshape(-1), atol=1e-3)
    assert torch.allclose(z, depth.reshape(-1), atol=1e-4)


def test_positive_yaw_turns_right_and_positive_pitch_looks_up():
    right = pose_from_yaw_pitch(90.0)[:3, 2]
    assert torch.allclose(right, torch.tensor([1.0, 0.0, 0.0]), atol=1e-6)
    up = pose_from_yaw_pitch(0.0, 90.0)[:3, 2]
    assert torch.allclose(up, torch.tensor([0.0, -1.0, 0.0]), atol=1e-6)  # y points down in OpenCV axes


def test_look_at_is_a_rotation_facing_the_target():
    pose = look_at(torch.tensor([1.0, -1.0, -2.0]), torch.tensor([0.0, 0.0, 3.0]))
    R = pose[:3, :3]
    assert torch.allclose(R @ R.T, torch.eye(3), atol=1e-5)
    assert torch.det(R) == pytest.approx(1.0, abs=1e-5)
    forward = torch.tensor([0.0, 0.0, 3.0]) - torch.tensor([1.0, -1.0, -2.0])
    assert torch.allclose(R[:, 2], forward / forward.norm(), atol=1e-5)
    assert R[1, 1] > 0  # camera's y (down) keeps pointing down-ish


def test_scaled_intrinsics_keep_the_field_of_view():
    intr = Intrinsics.from_fov(640, 480, 60.0)
    half = intr.scaled(0.5)
    assert (half.width, half.height) == (320, 240)
    assert half.fov_x_deg == pytest.approx(60.0, abs=1e-6)
    assert math.isclose(half.cx, 159.5) and math.isclose(half.cy, 119.5)


def test_fov_out_of_range_is_rejected():
    with pytest.raises(ValueError, match="fov_deg"):
        Intrinsics.from_fov(64, 48, 0.0)
