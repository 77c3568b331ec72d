"""Fixtures for the Gaussian tests: exact multi-view scenes (the box room of benchmark/box_room.py, ray-cast
analytically) packed as ``core.pipeline.Scene`` objects, and small random Gaussian sets."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import benchmark.box_room as room_scenes  # moved there from tests/core/scenes.py
from core.camera import Camera, Intrinsics, pose_from_yaw_pitch, unproject_depth
from core.gaussians.model import Gaussians, rgb_to_sh_dc


def room_scene(width: int, height: int, yaws: tuple[float, ...] = (0.0, 20.0, -20.0)):
    """A ``Scene`` of the box room: exact photos, depths and the union of every view's lifted pixels."""
    from core.pipeline import Scene

    room = room_scenes.BoxRoom()
    cams = [Camera(Intrinsics.from_fov(width, height), pose_from_yaw_pitch(y)) for y in yaws]
    views, depths, pts, cols = [], [], [], []
    for cam in cams:
        image, depth = room.photo(cam)
        views.append(image)
        depths.append(depth)
        p = unproject_depth(torch.from_numpy(depth), cam.intrinsics.matrix(), cam.cam_to_world)
        pts.append(p.reshape(-1, 3).numpy())
        cols.append(image.reshape(-1, 3))
    return Scene(
        points=np.concatenate(pts).astype(np.float32),
        colors=np.concatenate(cols),
        normals=None,
        cameras=cams,
        views=views,
        depths=depths,
        masks=[np.zeros(d.shape, bool) for d in depths],
        timings={},
        meta={"mode": "test"},
    )


def random_gaussians(n: int, *, sh_degree: int = 0, seed: int = 0, depth: float = 3.0, dtype=torch.float32):
    """``n`` random Gaussians in front of the origin camera (OpenCV frame)."""
    gen = torch.Generator().manual_seed(seed)
    means = torch.randn(n, 3, generator=gen) * 0.4 + torch.tensor([0.0, 0.0, depth])
    sh = torch.randn(n, (sh_degree + 1) ** 2, 3, generator=gen) * 0.3
    sh[:, 0] = rgb_to_sh_dc(torch.rand(n, 3, generator=gen))
    g = Gaussians(
        means=means,
        quats=torch.randn(n, 4, generator=gen),
        log_scales=torch.log(torch.rand(n, 3, generator=gen) * 0.08 + 0.02),
        opacity_logits=torch.randn(n, generator=gen) + 1.0,
        sh=sh,
    )
    return g.map(lambda t: t.to(dtype))


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """These tests run many small ops; on a shared CI box intra-op threads only add contention (10x slower
    measured), so each test runs single-threaded and the previous setting is restored afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def room_48x36():
    return room_scene(48, 36)


@pytest.fixture
def origin_camera():
    return Camera(Intrinsics.from_fov(40, 30, 50.0), torch.eye(4))


def psnr_np(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)
