"""TSDF fusion: exact synthetic depth in, surfaces on the true geometry out; block-sparse memory; both backends."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.camera import Intrinsics, look_at
from core.mesh.tsdf import TSDFVolume, choose_voxel_size, pack_keys, unpack_keys
from training.synth.layouts import PrimitiveBuilder, empty_room
from training.synth.scene import SyntheticScene
from training.synth.sdf import scene_sdf


@pytest.fixture(scope="module")
def room():
    """A 4 x 4 x 2.5 m room with a box and a sphere, seen from 6 cameras around its centre."""
    b = PrimitiveBuilder()
    m = b.material_default()
    empty_room(b, 4.0, 4.0, 2.5, m)
    b.box([0.8, -0.4, 0.5], [0.3, 0.4, 0.3], m, yaw=0.3)
    b.sphere([-0.7, -0.35, -0.6], 0.35, m)
    scene = SyntheticScene.from_builder(b)
    intr = Intrinsics.from_fov(96, 72, 70.0)
    frames = []
    for k in range(6):
        a = 2 * np.pi * k / 6
        eye = torch.tensor([0.3 * np.cos(a), -1.2, 0.3 * np.sin(a)])
        target = torch.tensor([2.0 * np.cos(a + 0.5), -0.8, 2.0 * np.sin(a + 0.5)])
        frames.append(scene.render(intr.matrix(), look_at(eye, target), 72, 96, shadows=False))
    return scene, frames


def test_keys_round_trip():
    c = torch.tensor([[0, 0, 0], [-5, 7, -1000], [1000, -1, 3]])
    assert torch.equal(unpack_keys(pack_keys(c)), c)


def test_voxel_size_from_extent():
    assert choose_voxel_size(5.12) == pytest.approx(0.02)
    assert choose_voxel_size(0.5) == 0.01  # clamped
    with pytest.raises(ValueError):
        choose_voxel_size(float("nan"))


def test_fused_mesh_lies_on_the_true_surfaces(room):
    scene, frames = room
    vol = TSDFVolume(0.04)
    for f in frames:
        vol.integrate(f.depth, f.K, f.cam_to_world, f.image)
    mesh = vol.extract_mesh()
    assert len(mesh.faces) > 1000
    d = scene_sdf(torch.from_numpy(mesh.vertices), scene.prims).abs().numpy()
    assert np.median(d) < 0.01 and np.quantile(d, 0.99) < 0.04
    # Faces are wound towards free space: a step along the normal increases the signed distance.
    v, f = mesh.vertices, mesh.faces
    n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-12
    c = torch.from_numpy(v[f].mean(1))
    step = torch.from_numpy(0.01 * n).float()
    up = scene_sdf(c + step, scene.prims) > scene_sdf(c - step, scene.prims)
    assert up.float().mean() > 0.9
    assert mesh.colors is not None and mesh.colors.shape == mesh.vertices.shape


def test_memory_is_block_sparse(room):
    """A 2 cm volume of the room holds far fewer voxels than its dense bounding grid."""
    _, frames = room
    vol = TSDFVolume(0.02)
    for f in frames:
        vol.integrate(f.depth, f.K, f.cam_to_world)
    dense_voxels = (4.0 / 0.02) ** 2 * (2.5 / 0.02)
    assert vol.num_blocks * 512 < 0.5 * dense_voxels


def test_dense_read_write_round_trip():
    vol = TSDFVolume(0.1, with_color=False)
    t = torch.rand(12, 12, 12) * 2 - 1
    w = torch.ones(12, 12, 12)
    vol.write_dense(torch.tensor([-3, 5, 2]), t, w)
    t2, w2, _ = vol.read_dense(torch.tensor([-3, 5, 2]), 12)
    assert torch.allclose(t2, t) and torch.equal(w2, w)
    t3, w3, _ = vol.read_dense(torch.tensor([-4, 5, 2]), 12)
    assert w3[0].sum() == 0 and torch.allclose(t3[1:], t[:-1])


def test_open3d_backend_agrees(room):
    pytest.importorskip("open3d")
    from core.mesh.metrics import mesh_metrics
    from core.mesh.open3d_fusion import Open3DVolume

    _, frames = room
    a, b = TSDFVolume(0.04), Open3DVolume(0.04)
    for f in frames:
        a.integrate(f.depth, f.K, f.cam_to_world, f.image)
        b.integrate(f.depth, f.K, f.cam_to_world, f.image)
    m = mesh_metrics(a.extract_mesh(), b.extract_mesh(), n_points=50_000)
    assert m["fscore"] > 0.95


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(room):
    _, frames = room
    a, b = TSDFVolume(0.04), TSDFVolume(0.04, device="cuda")
    for f in frames:
        a.integrate(f.depth, f.K, f.cam_to_world)
        b.integrate(f.depth, f.K, f.cam_to_world)
    assert a.num_blocks == b.num_blocks
    ta, wa, _ = a.read_dense(torch.tensor([-50, -62, -50]), 100)
    tb, wb, _ = b.read_dense(torch.tensor([-50, -62, -50]), 100)
    assert torch.equal(wa, wb.cpu()) and torch.allclose(ta, tb.cpu(), atol=1e-5)
