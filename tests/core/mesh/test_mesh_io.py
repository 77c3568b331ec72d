"""Mesh files: GLB (glTF axes) and PLY (OpenCV axes) round-trip with colours."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import InputError
from core.mesh.io import read_mesh, write_mesh
from core.mesh.tsdf import MeshData


def tetra() -> MeshData:
    v = np.array([[0, 0, 1], [1, 0, 1], [0, 1, 1], [0, 0, 2]], np.float32)
    f = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    c = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [9, 9, 9]], np.uint8)
    return MeshData(v, f, c)


@pytest.mark.parametrize("suffix", [".glb", ".ply"])
def test_round_trip(tmp_path, suffix):
    pytest.importorskip("trimesh")
    m = tetra()
    path = write_mesh(tmp_path / f"m{suffix}", m)
    back = read_mesh(path)
    assert np.allclose(back.vertices, m.vertices, atol=1e-6)
    assert np.array_equal(back.faces, m.faces)
    assert np.array_equal(back.colors, m.colors)


def test_glb_is_in_gltf_axes(tmp_path):
    trimesh = pytest.importorskip("trimesh")
    write_mesh(tmp_path / "m.glb", tetra())
    raw = trimesh.load(tmp_path / "m.glb", process=False)
    raw = raw.to_mesh() if isinstance(raw, trimesh.Scene) else raw
    assert np.allclose(raw.vertices[3], [0, 0, -2])  # z forward (OpenCV) -> -z (glTF)


def test_bad_suffix_writes_nothing(tmp_path):
    with pytest.raises(InputError, match=r"\.glb or \.ply"):
        write_mesh(tmp_path / "m.obj", tetra())
    assert not list(tmp_path.iterdir())
