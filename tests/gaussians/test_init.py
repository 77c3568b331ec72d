"""One Gaussian per point, sized to its pixel footprint, flattened along the normal."""

from __future__ import annotations

import math

import numpy as np
import torch
from conftest import psnr_np

from core.camera import Camera, Intrinsics, unproject_depth
from core.gaussians.init import (
    FLATNESS,
    FOOTPRINT_SIGMA,
    INIT_OPACITY,
    estimate_normals,
    gaussians_from_points,
    merge_to_pixel_cells,
)
from core.gaussians.model import quat_to_rotmat
from core.gaussians.rasterize import rasterize_reference


def _plane(depth_fn, width=32, height=24):
    cam = Camera(Intrinsics.from_fov(width, height), torch.eye(4))
    v, u = np.mgrid[0:height, 0:width]
    depth = depth_fn(u, v).astype(np.float32)
    pts = unproject_depth(torch.from_numpy(depth), cam.intrinsics.matrix()).reshape(-1, 3).numpy()
    colors = np.stack([u * 8, v * 10, np.full_like(u, 128)], -1).reshape(-1, 3).astype(np.uint8)
    return cam, pts, colors


def test_fronto_parallel_plane():
    cam, pts, colors = _plane(lambda u, v: np.full(u.shape, 2.0))
    normals = np.tile(np.array([[0.0, 0.0, -1.0]], np.float32), (len(pts), 1))
    g = gaussians_from_points(pts, colors, [cam], normals=normals, sh_degree=1)
    assert len(g) == len(pts) and g.sh_degree == 1
    assert torch.equal(g.means, torch.from_numpy(pts))
    assert torch.allclose(g.opacities, torch.full((len(g),), INIT_OPACITY))
    assert torch.allclose(g.rgb * 255, torch.from_numpy(colors).float(), atol=1e-3)
    footprint = 2.0 / cam.intrinsics.fx
    expected = torch.tensor([FOOTPRINT_SIGMA, FOOTPRINT_SIGMA, FOOTPRINT_SIGMA * FLATNESS]) * footprint
    assert torch.allclose(g.scales, expected.expand_as(g.scales), rtol=1e-4)
    third_axis = quat_to_rotmat(g.quats)[:, :, 2]  # the flat axis is local z: it must be the normal
    assert torch.allclose(third_axis.abs(), torch.tensor([0.0, 0.0, 1.0]).expand_as(third_axis), atol=1e-5)


def test_slanted_surface_is_stretched_along_its_tilt():
    """A plane turned 60 degrees spreads each pixel over 2 footprints along the tilt: the Gaussian follows."""
    slope = math.tan(math.radians(60))
    cam, pts, colors = _plane(lambda u, v: 2.0 + slope * (u - 15.5) * 2.0 / 32.0 / 1.0)
    g = gaussians_from_points(pts, colors, [cam])  # normals estimated from the neighbours
    R = quat_to_rotmat(g.quats)
    centre = int(np.argmin(np.linalg.norm(pts[:, :2], axis=1)))  # the point on the optical axis
    normal = R[centre, :, 2]
    true_normal = torch.nn.functional.normalize(torch.tensor([slope, 0.0, -1.0]), dim=0)
    assert abs(float(normal @ true_normal)) > 0.99
    ratio = float(g.scales[centre, 0] / g.scales[centre, 1])
    assert abs(ratio - 2.0) < 0.1  # 1 / cos(60 deg)


def test_estimated_normals_face_the_camera():
    rng = np.random.default_rng(0)
    pts = np.c_[rng.uniform(-1, 1, (400, 2)), np.full(400, 3.0)].astype(np.float32)
    n = estimate_normals(pts, np.zeros(3))
    assert np.all(n[:, 2] < -0.99)


def test_subsampling_widens_the_survivors():
    cam, pts, colors = _plane(lambda u, v: np.full(u.shape, 2.0))
    full = gaussians_from_points(pts, colors, [cam])
    quarter = gaussians_from_points(pts, colors, [cam], max_gaussians=len(pts) // 4, seed=1)
    assert len(quarter) == len(pts) // 4
    assert torch.allclose(quarter.scales[:, 1].median(), 2 * full.scales[:, 1].median(), rtol=1e-3)


def test_initial_render_already_looks_like_the_photo(room_48x36):
    scene = room_48x36
    g = gaussians_from_points(scene.points, scene.colors, scene.cameras, sh_degree=0)
    for cam, view in zip(scene.cameras, scene.views, strict=True):
        image = rasterize_reference(g, cam).image.clamp(0, 1).numpy()
        assert psnr_np((image * 255).round(), view) > 20.0


def test_merging_leaves_one_point_per_working_pixel_with_the_box_colour():
    """Points lifted at 64x48 merged for a 32x24 camera: one per pixel (and per depth layer), colours averaged
    over each 2x2 block like a box-downsampled photo."""
    cam, pts, colors = _plane(lambda u, v: np.where(u < 32, 2.0, 4.0), width=64, height=48)
    small = Camera(cam.intrinsics.scaled(0.5), cam.cam_to_world)
    merged, rgb, _ = merge_to_pixel_cells(torch.from_numpy(pts), torch.from_numpy(colors).float(), None, [small])
    assert len(merged) == 32 * 24
    box = colors.reshape(24, 2, 32, 2, 3).astype(np.float64).mean(axis=(1, 3)).reshape(-1, 3)
    order = np.lexsort((merged[:, 0].numpy() / merged[:, 2].numpy(), merged[:, 1].numpy() / merged[:, 2].numpy()))
    assert np.allclose(rgb.numpy()[order], box, atol=1e-3)
    g = gaussians_from_points(pts, colors, [small], merge_cells=True)
    assert len(g) == 32 * 24
