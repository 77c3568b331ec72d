"""The point renderer against its brute-force twin, and the behaviours callers rely on."""

from __future__ import annotations

import pytest
import torch

from core.camera import Intrinsics, invert_pose, pose_from_yaw_pitch, unproject_depth
from core.render import render_points, render_points_reference, render_points_world_size


def _cloud(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    pts = torch.randn(n, 3, generator=g) * torch.tensor([0.6, 0.5, 0.4]) + torch.tensor([0.0, 0.0, 3.0])
    colors = torch.rand(n, 3, generator=g)
    return pts, colors


K_SMALL = torch.tensor([[22.0, 0.0, 13.5], [0.0, 22.0, 10.5], [0.0, 0.0, 1.0]])


@pytest.mark.parametrize("radius", [None, 0.5, 1.3, 2.7, "per-point", "per-point-small"])
def test_matches_reference(radius: object) -> None:
    """``per-point`` radii (up to 3 px) take the sorted-prefix path, ``per-point-small`` (up to 1.5 px) the
    unsorted one where every candidate is tested at every offset."""
    pts, colors = _cloud(400)
    if radius in ("per-point", "per-point-small"):
        scale = 3.0 if radius == "per-point" else 1.5
        radius = torch.rand(400, generator=torch.Generator().manual_seed(1)) * scale
    w2c = invert_pose(pose_from_yaw_pitch(8.0, -4.0, (0.1, 0.0, -0.2)))
    fast = render_points(pts, colors, K_SMALL, w2c, 22, 28, radius_px=radius)
    ref = render_points_reference(pts, colors, K_SMALL, w2c, 22, 28, radius_px=radius)
    assert torch.equal(fast.index, ref.index)
    assert torch.equal(fast.depth, ref.depth)
    assert torch.equal(fast.image, ref.image)
    assert torch.equal(fast.mask, ref.mask)
    assert fast.mask.any()


@pytest.mark.parametrize("radius", [None, 1.3, "per-point", "world-size"])
def test_cpu_passes_in_chunks_draw_the_single_pass_picture(radius: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """Large clouds are drawn in chunks on the CPU; chunks of 37 points (with the widest disk in a later chunk
    than the first) must give exactly the picture of one pass, ids, depths and colours."""
    import core.render

    pts, colors = _cloud(400, seed=3)
    g = torch.Generator().manual_seed(2)
    sizes = torch.rand(400, generator=g) * 0.05
    if radius == "per-point":
        radius = torch.rand(400, generator=g) * 3.0
        radius[300] = 9.0  # the widest disk, far from the first chunk
    w2c = invert_pose(pose_from_yaw_pitch(-6.0, 3.0, (0.05, 0.1, -0.3)))

    def draw() -> object:
        if radius == "world-size":
            return render_points_world_size(pts, colors, sizes, K_SMALL, w2c, 22, 28)
        return render_points(pts, colors, K_SMALL, w2c, 22, 28, radius_px=radius)

    one = draw()
    monkeypatch.setattr(core.render, "CPU_CHUNK", 37)
    chunked = draw()
    assert one.mask.any()
    for field in ("index", "depth", "image", "mask"):
        assert torch.equal(getattr(chunked, field), getattr(one, field)), field


def test_nearest_point_wins_and_ties_go_to_lowest_id() -> None:
    K = torch.tensor([[10.0, 0, 2.0], [0, 10.0, 2.0], [0, 0, 1]])
    pts = torch.tensor([[0.0, 0.0, 5.0], [0.0, 0.0, 2.0], [0.0, 0.0, 2.0], [0.0, 0.0, -1.0]])
    colors = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [1.0, 1.0, 1.0]])
    out = render_points(pts, colors, K, torch.eye(4), 5, 5)
    assert int(out.index[2, 2]) == 1  # nearest (z=2), lowest id among the tie; the point behind is ignored
    assert float(out.depth[2, 2]) == 2.0
    assert out.image[2, 2].tolist() == [0.0, 1.0, 0.0]
    assert int(out.mask.sum()) == 1
    assert int(out.index[0, 0]) == -1 and float(out.depth[0, 0]) == 0.0


def test_empty_and_all_behind() -> None:
    K = Intrinsics.from_fov(16, 12).matrix()
    for pts in (torch.zeros(0, 3), torch.tensor([[0.0, 0.0, -2.0], [0.5, 0.1, -1.0]])):
        out = render_points(pts, torch.rand(pts.shape[0], 4), K, torch.eye(4), 12, 16, radius_px=2.0)
        assert out.image.shape == (12, 16, 4)
        assert not out.mask.any() and (out.index == -1).all() and (out.depth == 0).all()


def test_reprojects_a_depth_map_exactly() -> None:
    """Lifting a depth map and rendering it from the same camera gives back the depth and the pixels."""
    intr = Intrinsics.from_fov(40, 30)
    depth = 2.0 + torch.rand(30, 40, generator=torch.Generator().manual_seed(3))
    pts = unproject_depth(depth, intr.matrix()).reshape(-1, 3)
    colors = torch.arange(pts.shape[0]).float()[:, None]
    out = render_points(pts, colors, intr.matrix(), torch.eye(4), 30, 40)
    assert out.mask.all()
    assert torch.allclose(out.depth, depth, atol=1e-5)
    assert torch.equal(out.index.reshape(-1), torch.arange(30 * 40))


def test_perspective_radius_closes_a_surface_seen_closer() -> None:
    """Moving towards a lifted plane spreads its points apart; world-size splats keep it closed, 1-px do not."""
    intr = Intrinsics.from_fov(64, 48)
    pts = unproject_depth(torch.full((48, 64), 4.0), intr.matrix()).reshape(-1, 3)
    colors = torch.ones(pts.shape[0], 3)
    w2c = invert_pose(pose_from_yaw_pitch(0.0, 0.0, (0.0, 0.0, 2.0)))  # halfway to the plane: 2x magnification
    thin = render_points(pts, colors, intr.matrix(), w2c, 48, 64)
    size = torch.full((pts.shape[0],), 0.75 * 4.0 / intr.fx)
    thick = render_points_world_size(pts, colors, size, intr.matrix(), w2c, 48, 64)
    assert thin.mask.float().mean() < 0.3
    assert thick.mask.all()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    pts, colors = _cloud(20000)
    radius = torch.rand(20000) * 3
    K = Intrinsics.from_fov(128, 96).matrix()
    cpu = render_points(pts, colors, K, torch.eye(4), 96, 128, radius_px=radius)
    gpu = render_points(pts.cuda(), colors.cuda(), K.cuda(), torch.eye(4).cuda(), 96, 128, radius_px=radius.cuda())
    # CUDA may fuse the projection's multiply-adds, moving a point across a pixel boundary in rare cases.
    same = (cpu.index == gpu.index.cpu()).float().mean()
    assert same > 0.999
    assert torch.allclose(cpu.depth[cpu.index == gpu.index.cpu()], gpu.depth.cpu()[cpu.index == gpu.index.cpu()])


def test_benchmark_script_runs(capsys: pytest.CaptureFixture[str]) -> None:
    from benchmark.render_speed import main

    threads = torch.get_num_threads()
    try:
        assert main(["--sizes", "5000,20000", "--size", "64", "--repeats", "1", "--threads", "1"]) == 0
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert out.count("M points/s") == 5
    assert out.count("speed-up") == 2


@pytest.mark.parametrize("radius", [None, 1.3, "per-point"])
def test_numpy_reference_of_the_benchmark_draws_the_same_picture(radius: object) -> None:
    """The speed benchmark's numpy argsort z-buffer is a fair reference: same pixels as the brute-force twin."""
    from benchmark.render_speed import render_points_numpy

    pts, colors = _cloud(400)
    if radius == "per-point":
        radius = torch.rand(400, generator=torch.Generator().manual_seed(1)) * 3.0
    w2c = invert_pose(pose_from_yaw_pitch(8.0, -4.0, (0.1, 0.0, -0.2)))
    ref = render_points_reference(pts, colors, K_SMALL, w2c, 22, 28, radius_px=radius)
    r_np = radius.numpy() if isinstance(radius, torch.Tensor) else radius
    index = render_points_numpy(pts.numpy(), K_SMALL.numpy(), w2c.numpy(), 22, 28, r_np)
    assert (index == ref.index.numpy()).mean() > 0.995
    assert (index >= 0).sum() == int(ref.mask.sum())


def test_large_cloud_agrees_with_the_numpy_reference() -> None:
    """Offsets, culling and padding at scale: a lifted cloud with perspective splats, 100k points."""
    from benchmark.render_speed import measure_lifted

    fig = measure_lifted(100_000, 128, "cpu", repeats=1)
    assert fig.agreement > 0.999
    assert fig.coverage > 0.5


@pytest.mark.slow
def test_one_million_points_under_a_second() -> None:
    """The issue's speed target on the CI CPU: best of three, one thread (see benchmark/render_speed.py)."""
    import time

    from benchmark.render_speed import _lifted_cloud

    pts, colors, size = _lifted_cloud(1_000_000, "cpu")
    K = Intrinsics.from_fov(512, 512).matrix()
    w2c = invert_pose(pose_from_yaw_pitch(20.0, 0.0, (0.05, 0.0, 0.0)))
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        out = render_points_world_size(pts, colors, size, K, w2c, 512, 512)
        best = min(best, time.perf_counter() - t0)
    assert out.mask.float().mean() > 0.5
    assert best < 1.0, f"{best:.2f} s"
