"""Mesh metrics: a mesh against itself scores F = 1; shifted by 10 cm it scores F = 0 at 5 cm."""

from __future__ import annotations

import numpy as np
import pytest

from core.mesh.metrics import mesh_metrics, point_metrics, render_depth, sample_surface, voxel_downsample
from core.mesh.tsdf import MeshData


def box_mesh(size=2.0, center=(0.0, 0.0, 3.0)) -> MeshData:
    trimesh = pytest.importorskip("trimesh")
    b = trimesh.creation.box(extents=(size, size, size))
    return MeshData(np.asarray(b.vertices, np.float32) + np.asarray(center, np.float32), np.asarray(b.faces))


def test_self_is_perfect():
    m = box_mesh()
    s = mesh_metrics(m, m)
    assert s["fscore"] == pytest.approx(1.0) and s["prec"] == 1.0 and s["recall"] == 1.0
    assert s["chamfer"] < 0.02


def wall(z: float) -> MeshData:
    v = np.array([[-1, -1, z], [1, -1, z], [1, 1, z], [-1, 1, z]], np.float32)
    return MeshData(v, np.array([[0, 1, 2], [0, 2, 3]]))


def test_shift_of_10cm_scores_zero():
    a, b = wall(3.0), wall(3.1)
    s = mesh_metrics(a, b)
    assert s["fscore"] == 0.0
    assert s["acc"] > 0.09 and s["comp"] > 0.09


def test_empty_prediction():
    s = point_metrics(np.zeros((0, 3)), np.ones((5, 3)))
    assert s["fscore"] == 0.0 and s["recall"] == 0.0


def test_sampling_and_downsampling():
    pts = sample_surface(box_mesh(size=1.0), 20_000)
    assert pts.shape == (20_000, 3)
    down = voxel_downsample(pts, 0.05)
    assert len(down) < len(pts)
    cells = np.floor(down / 0.05).astype(int)
    assert len(np.unique(cells, axis=0)) == len(down)


def test_render_depth_of_a_wall():
    pytest.importorskip("open3d")
    wall = MeshData(np.array([[-5, -5, 2], [5, -5, 2], [5, 5, 2], [-5, 5, 2]], np.float32),
                    np.array([[0, 1, 2], [0, 2, 3]]))
    K = np.array([[50, 0, 31.5], [0, 50, 23.5], [0, 0, 1]], np.float32)
    d = render_depth(wall, [K], [np.eye(4)], 48, 64)[0]
    assert np.allclose(d, 2.0, atol=1e-5)
