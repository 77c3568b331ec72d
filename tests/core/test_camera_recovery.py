"""Camera recovery maths (core/camera_recovery): exact distort/undistort round trip, the closed-form and
geometric recoveries on exact clouds, the module's save/load, and estimate_camera's errors and fallbacks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from core.camera_recovery import (
    CameraNetConfig,
    PointCloudCameraNet,
    distort,
    estimate_camera,
    focal_from_fov,
    fov_from_focal,
    normalised_grid,
    undistort,
    unproject_normalised,
)
from core.camera_recovery.classical import focal_shift_from_point_map, geometric_search
from core.camera_recovery.geometry import apply_shift, sample_valid
from core.errors import InputError

TINY = CameraNetConfig(num_points=128, centroids=(16, 4), neighbours=8, widths=((16,), (16,)), global_width=16)


def _room_depth(H: int = 48, W: int = 64, fov: float = 70.0) -> tuple[np.ndarray, float]:
    """Exact depth of a camera inside a box room, turned 30 degrees (so no wall is fronto-parallel)."""
    from benchmark.box_room import BoxRoom
    from core.camera import Camera, Intrinsics, pose_from_yaw_pitch

    cam = Camera(Intrinsics.from_fov(W, H, fov), pose_from_yaw_pitch(30.0, -10.0))
    depth, _ = BoxRoom().ray_depth(cam)
    return depth, float(focal_from_fov(fov))


@pytest.mark.parametrize("shift, scale", [(0.0, 1.0), (0.5, 0.7), (-0.2, 1.6), (0.8, 0.5)])
def test_distort_undistort_round_trip_is_exact(shift: float, scale: float) -> None:
    depth, f = _room_depth()
    H, W = depth.shape
    d = torch.from_numpy(depth).reshape(1, -1).double()
    v = d > 0
    uv = normalised_grid(H, W).reshape(1, -1, 2).double()
    cloud = distort(d, uv, v, torch.tensor([f], dtype=torch.float64), torch.tensor([shift], dtype=torch.float64),
                    torch.tensor([scale], dtype=torch.float64))
    assert torch.allclose(cloud.focal_in, torch.tensor([f * scale], dtype=torch.float64))
    rec = undistort(cloud, cloud.shift, cloud.log_focal_scale)[0]
    true = unproject_normalised(d[0], uv[0], f)
    s = (rec * true).sum() / (rec * rec).sum()
    assert torch.allclose(s * rec, true, atol=1e-9, rtol=1e-9)
    # A wrong correction does not give the true cloud back.
    wrong = undistort(cloud, cloud.shift + 0.1, cloud.log_focal_scale)[0]
    s = (wrong * true).sum() / (wrong * wrong).sum()
    assert (s * wrong - true).abs().max() > 1e-2


def test_apply_shift_composes_and_clamps() -> None:
    d = torch.tensor([[0.2, 0.5, 1.0, 1.0]])
    valid = torch.ones_like(d, dtype=torch.bool)
    new, scale, used = apply_shift(d, torch.tensor([0.1]), valid)
    assert torch.allclose(d - used[:, None], scale[:, None] * new)
    _, _, clamped = apply_shift(d, torch.tensor([5.0]), valid)
    assert float(clamped) == pytest.approx(0.2 - 0.02)


def test_fov_focal_inverse() -> None:
    for fov in (35.0, 53.13, 100.0):
        assert fov_from_focal(focal_from_fov(fov)) == pytest.approx(fov)


def test_point_map_recovery_is_exact() -> None:
    depth, f = _room_depth()
    H, W = depth.shape
    uv = normalised_grid(H, W).reshape(-1, 2)
    pts = unproject_normalised(torch.from_numpy(depth).reshape(-1), uv, f)
    t_true = -0.4  # a point map whose z carries a shift: z_pred = z - 0.4
    pts[:, 2] += t_true
    f_hat, t_hat = focal_shift_from_point_map(pts.numpy()[::7], uv.numpy()[::7])
    assert f_hat == pytest.approx(f, rel=1e-5)
    assert t_hat == pytest.approx(-t_true, abs=1e-5)


def test_geometric_search_recovers_a_box_room() -> None:
    depth, f = _room_depth(fov=75.0)
    H, W = depth.shape
    d = torch.from_numpy(depth).reshape(-1)
    idx = sample_valid(d > 0, 1024)
    dn = d[idx] / torch.quantile(d[idx], 0.98)
    obs = dn + 0.3
    uv = normalised_grid(H, W).reshape(-1, 2)[idx]
    shift, f_hat = geometric_search(obs / obs.max(), uv, float(focal_from_fov(60)))
    assert fov_from_focal(f_hat) == pytest.approx(75.0, abs=3.0)
    assert shift * float(obs.max()) == pytest.approx(0.3, abs=0.05)


@pytest.mark.parametrize("normals, pair_bins", [(False, 0), (True, 0), (True, 24)])
def test_module_save_load_round_trip(tmp_path, normals: bool, pair_bins: int) -> None:
    from dataclasses import replace

    torch.manual_seed(0)
    net = PointCloudCameraNet(replace(TINY, normals=normals, pair_bins=pair_bins)).eval()
    net.save_pretrained(tmp_path)
    again = PointCloudCameraNet.from_pretrained(tmp_path)
    pts, uv = torch.rand(2, 128, 3) + 0.5, torch.rand(2, 128, 2)
    with torch.no_grad():
        a, b = net(pts, uv), again(pts, uv)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert again.config == net.config


def test_estimate_camera_errors_and_fallbacks(tmp_path) -> None:
    torch.manual_seed(0)
    PointCloudCameraNet(TINY).save_pretrained(tmp_path)
    depth, _ = _room_depth()
    with pytest.raises(InputError, match="2-D"):
        estimate_camera(depth[None], model=tmp_path)
    with pytest.raises(InputError, match="photo is"):
        estimate_camera(depth, expected_shape=(10, 10), model=tmp_path)
    with pytest.raises(InputError, match="method"):
        estimate_camera(depth, method="magic")  # type: ignore[arg-type]
    nan = np.full_like(depth, np.nan)
    est = estimate_camera(nan, model=tmp_path)
    assert est.method == "fallback" and "valid depth pixels" in est.fallback_reason
    assert est.fov_x_deg == pytest.approx(53.13)
    flat = estimate_camera(np.full_like(depth, 2.0), model=tmp_path)
    assert flat.method == "fallback" and "relief" in flat.fallback_reason
    partly = depth.copy()
    partly[:10] = np.nan  # NaN pixels are unknown, the rest still counts
    est = estimate_camera(partly, model=tmp_path, estimate_shift=True)
    assert est.method == "module" and est.fallback_reason is None and math.isfinite(est.fov_x_deg)
    assert est.valid_points == int((partly > 0).sum())
    assert estimate_camera(depth, method="fixed").fov_x_deg == pytest.approx(53.13)


def test_neighbourhood_normals_of_a_plane_face_the_camera() -> None:
    from core.camera_recovery.net import neighbourhood_normals

    g = torch.Generator().manual_seed(0)
    xy = torch.rand(1, 4, 9, 2, generator=g)
    offsets = torch.cat([xy, 0.5 * xy[..., :1]], dim=-1)  # the plane z = 0.5 x, seen from the origin
    centres = torch.tensor([[[0.0, 0.0, 2.0]]]).expand(1, 4, 3)
    n = neighbourhood_normals(offsets, centres)[0]
    expected = torch.tensor([0.5, 0.0, -1.0]) / math.sqrt(1.25)
    assert torch.allclose(n, expected.expand(4, 3), atol=1e-5)


@pytest.mark.parametrize("scale", [0.6, 1.0, 1.7])
def test_normal_pair_votes_peak_at_the_focal_scale(scale: float) -> None:
    """Three mutually orthogonal surfaces in a random orientation, their normals distorted as a focal ``scale``
    times too long distorts them: the votes of the orthogonal pairs pile up at log(scale); a parallel pair does
    not vote; and the peak moves with the scale (no fixed answer)."""
    from core.camera_recovery.net import PAIR_VOTE_RANGE, normal_pair_votes

    g = torch.Generator().manual_seed(3)
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=g))
    normals = torch.cat([q, q[:1]])  # 3 orthogonal directions + a repeat of the first (a parallel pair)
    normals = torch.where(normals[:, 2:] > 0, -normals, normals)  # facing the camera, as the net orients them
    distorted = torch.nn.functional.normalize(normals * torch.tensor([scale, scale, 1.0]), dim=-1)
    bins = 49
    votes = normal_pair_votes(distorted[None], bins)[0]
    centres = torch.linspace(-PAIR_VOTE_RANGE, PAIR_VOTE_RANGE, bins)
    assert float(centres[votes[:-1].argmax()]) == pytest.approx(math.log(scale), abs=0.05)
    assert float(votes[-1]) == pytest.approx(10 / 12)  # 12 ordered pairs, the parallel pair's 2 cast no vote


def test_pair_votes_need_normals() -> None:
    with pytest.raises(ValueError, match="normals"):
        CameraNetConfig(pair_bins=16, normals=False)
