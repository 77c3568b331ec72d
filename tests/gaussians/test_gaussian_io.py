"""3DGS PLY and .splat files: exact layout, readable by plyfile, round trips through the project's readers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import random_gaussians
from plyfile import PlyData

from core.gaussians import (
    is_gaussian_ply,
    load_gaussian_ply,
    load_gaussians,
    load_splat,
    save_gaussian_ply,
    save_gaussians,
    save_splat,
)
from core.gaussians.model import SH_C0

INRIA_FIELDS = (
    ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
    + [f"f_rest_{i}" for i in range(45)]
    + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
)


def test_ply_has_the_inria_layout_and_round_trips(tmp_path):
    g = random_gaussians(300, sh_degree=3, seed=2)
    path = save_gaussian_ply(g, tmp_path / "g.ply")
    raw = path.read_bytes()
    assert raw.startswith(b"ply\nformat binary_little_endian 1.0\n")
    assert b"comment gld8tr frame opencv" in raw[:200]
    ply = PlyData.read(str(path))
    v = ply["vertex"]
    assert v.count == 300
    assert [p.name for p in v.properties] == INRIA_FIELDS
    assert all(v.data.dtype[name] == np.dtype("<f4") for name in INRIA_FIELDS)
    # Values sit where the layout says: logit opacity, log scales, w-first quaternion, channel-major f_rest.
    assert np.array_equal(v["opacity"], g.opacity_logits.numpy())
    assert np.array_equal(v["scale_1"], g.log_scales[:, 1].numpy())
    assert np.array_equal(v["rot_0"], g.quats[:, 0].numpy())
    assert np.array_equal(v["f_rest_0"], g.sh[:, 1, 0].numpy())  # red, first band-1 coefficient
    assert np.array_equal(v["f_rest_15"], g.sh[:, 1, 1].numpy())  # green starts after the 15 red ones
    assert np.array_equal(v["f_rest_44"], g.sh[:, 15, 2].numpy())
    assert not np.any(v["nx"]) and not np.any(v["nz"])
    assert is_gaussian_ply(path)

    back = load_gaussian_ply(path)
    for name, tensor in g.tensors().items():
        assert torch.equal(getattr(back, name), tensor), name
    assert torch.equal(load_gaussian_ply(raw).means, g.means)  # bytes work too


def test_ply_degree_zero_and_opengl_axes(tmp_path):
    g = random_gaussians(50, sh_degree=0, seed=4)
    path = save_gaussians(g, tmp_path / "flat.ply", axes="opengl")
    v = PlyData.read(str(path))["vertex"]
    assert "f_rest_0" not in [p.name for p in v.properties]
    assert np.allclose(v["y"], -g.means[:, 1].numpy()) and np.allclose(v["z"], -g.means[:, 2].numpy())
    assert b"frame opengl" in path.read_bytes()[:200]
    back = load_gaussian_ply(path, axes="opengl")
    assert torch.allclose(back.means, g.means) and torch.allclose(back.quats, g.quats)


def test_plain_point_cloud_is_not_a_gaussian_ply(tmp_path):
    from plyfile import PlyElement

    v = np.zeros(3, dtype=[("x", "f4"), ("y", "f4"), ("z", "f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")])
    path = tmp_path / "points.ply"
    PlyData([PlyElement.describe(v, "vertex")]).write(str(path))
    assert not is_gaussian_ply(path)
    with pytest.raises(ValueError, match="missing vertex properties"):
        load_gaussian_ply(path)


def test_splat_rows_are_32_bytes_sorted_and_round_trip(tmp_path):
    g = random_gaussians(200, sh_degree=2, seed=7)
    path = save_splat(g, tmp_path / "g.splat")
    raw = path.read_bytes()
    assert len(raw) == 32 * 200
    pos = np.frombuffer(raw, dtype="<f4").reshape(200, 8)[:, :6]
    u8 = np.frombuffer(raw, dtype=np.uint8).reshape(200, 32)
    importance = np.exp(np.log(pos[:, 3:6]).sum(1)) * (u8[:, 27] / 255.0)
    assert np.all(np.diff(importance) <= 1e-6 + 0.01 * importance[:-1])  # largest x most opaque first

    back = load_splat(path)
    assert len(back) == 200 and back.sh_degree == 0
    # Rows were reordered: match them by position (exact float32) before comparing.
    order = torch.as_tensor(np.lexsort(g.means.numpy().T[::-1].copy()))
    order_back = torch.as_tensor(np.lexsort(back.means.numpy().T[::-1].copy()))
    a, b = g.subset(order), back.subset(order_back)
    assert torch.equal(a.means, b.means)
    assert torch.allclose(a.scales, b.scales, rtol=1e-6)
    assert torch.allclose(a.rgb, b.rgb, atol=0.5 / 255 + 1e-6)
    assert torch.allclose(a.opacities, b.opacities, atol=0.5 / 255 + 1e-6)
    qa = torch.nn.functional.normalize(a.quats, dim=1)
    qb = torch.nn.functional.normalize(b.quats, dim=1)
    assert torch.all((qa * qb).sum(1).abs() > 0.999)  # same rotation up to 8-bit quantisation
    # Re-encoding decoded splats is stable: same positions and colours, rotations within one quantisation step
    # (decoding renormalises the quaternion). Rows are matched by position; ties in importance may reorder them.
    again = np.frombuffer(save_gaussians(load_gaussians(path), tmp_path / "again.splat").read_bytes(), np.uint8)
    by_pos = lambda a: a.reshape(-1, 32)[np.lexsort(a.reshape(-1, 32)[:, :12].T)]  # noqa: E731
    x, y = by_pos(u8), by_pos(again)
    assert np.array_equal(x[:, :12], y[:, :12]) and np.array_equal(x[:, 24:28], y[:, 24:28])
    assert np.abs(x[:, 28:].astype(int) - y[:, 28:].astype(int)).max() <= 1


def test_splat_colour_is_the_dc_colour(tmp_path):
    g = random_gaussians(1, seed=0)
    g.sh[0, 0] = torch.tensor([0.0, 1.0, -1.0])
    u8 = np.frombuffer(save_splat(g, tmp_path / "one.splat").read_bytes(), dtype=np.uint8)
    expected = np.round(np.clip(0.5 + SH_C0 * np.array([0.0, 1.0, -1.0]), 0, 1) * 255)
    assert np.array_equal(u8[24:27], expected.astype(np.uint8))


def test_unknown_suffix_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown Gaussian file type"):
        save_gaussians(random_gaussians(2), tmp_path / "g.obj")
    with pytest.raises(ValueError, match="multiple of 32"):
        load_splat(b"\0" * 33)
