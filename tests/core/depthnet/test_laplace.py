"""The device (torch) twins of the depth network's CPU helpers agree with them: the Laplacian prior against the
scipy sparse solve, and the seam correction of ``meet_known`` against the exact distance transform."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.depthnet.laplace import laplacian_fill_torch
from core.depthnet.model import DepthCompletionNet, _seam_correction_torch, nearest_fill, nearest_known_coords
from core.fill import laplacian_fill


def _scene(seed: int, H: int = 60, W: int = 90) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(H, W)).cumsum(0).cumsum(1) / 20
    known = np.ones((H, W), bool)
    known[:, W // 2 : W // 2 + 25] = False  # a disocclusion strip
    known[10:30, 5:25] = False  # an enclosed hole
    known[:, :3] = False  # a hole at the border (Neumann side)
    known &= rng.random((H, W)) > 0.05  # specks
    return values, known


@pytest.mark.parametrize("seed", [0, 1])
def test_laplacian_cg_matches_the_sparse_solve(seed: int) -> None:
    values, known = _scene(seed)
    ref = laplacian_fill(values, known)
    out = laplacian_fill_torch(torch.from_numpy(values)[None, None], torch.from_numpy(known)[None, None])[0, 0]
    assert out.dtype == torch.float64
    assert np.abs(out.numpy() - ref).max() < 1e-4 * np.ptp(values)
    assert np.array_equal(out.numpy()[known], values[known])


def test_laplacian_cg_batches_and_handles_nothing_known() -> None:
    a, ka = _scene(2)
    b = np.zeros_like(a)
    kb = np.zeros_like(ka)
    vals = torch.from_numpy(np.stack([a, b]))[:, None].float()
    known = torch.from_numpy(np.stack([ka, kb]))[:, None].float()
    out = laplacian_fill_torch(vals, known)
    assert out.dtype == torch.float32
    assert np.abs(out[0, 0].numpy() - laplacian_fill(a, ka)).max() < 1e-4 * np.ptp(a)
    assert (out[1] == 0).all()


def test_seam_correction_twin_matches_meet_known() -> None:
    values, known = _scene(3, 48, 64)
    depth = torch.from_numpy(np.exp(values / 10)).float()[None, None]
    mask = torch.from_numpy(known).float()[None, None]
    # The network strays from the known depth smoothly (a few percent, varying over tens of pixels).
    yy, xx = torch.meshgrid(torch.arange(48.0), torch.arange(64.0), indexing="ij")
    pred_log = depth.log() + 0.05 * torch.sin(xx / 9 + yy / 13)
    cpu = DepthCompletionNet.meet_known(pred_log, depth * mask, mask)
    twin = pred_log - _seam_correction_torch(pred_log - (depth * mask).clamp_min(1e-6).log(), mask > 0.5, 4.0)
    # Jump flooding and the exact transform may pick different known pixels among equidistant ones (ties are
    # common on a pixel grid); with a smooth stray that moves the correction by a fraction of its size only.
    assert ((cpu - twin).abs() < 1e-5).float().mean() > 0.95
    assert (cpu - twin).abs().max() < 0.4 * 0.05  # at worst a tie between the two sides of a strip
    assert torch.allclose(twin[mask > 0.5], depth.log()[mask > 0.5], atol=1e-5)  # meets the known depth exactly


def test_jump_flooding_finds_the_nearest_known_pixel() -> None:
    from scipy import ndimage

    values, known = _scene(4, 32, 40)
    k = torch.from_numpy(known).float()[None, None]
    sy, sx, found = nearest_known_coords(k)
    assert found.all()
    ys, xs = np.indices(known.shape)
    dist = np.hypot(sy[0, 0].numpy() - ys, sx[0, 0].numpy() - xs)
    exact = ndimage.distance_transform_edt(~known)
    assert (np.abs(dist - exact) < 1e-6).mean() > 0.995
    assert (dist - exact).max() < 1.0
    v = torch.from_numpy(values).float()[None, None]
    filled = nearest_fill(v, k)[0, 0].numpy()
    assert np.array_equal(filled, values.astype(np.float32)[sy[0, 0].long().numpy(), sx[0, 0].long().numpy()])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_forward_has_the_cpu_answer() -> None:
    torch.manual_seed(0)
    net = DepthCompletionNet.from_pretrained(__import__("core.depthnet", fromlist=["SHIPPED_DIR"]).SHIPPED_DIR)
    values, known = _scene(5, 64, 96)
    depth = torch.from_numpy(np.exp(values / 10)).float()[None, None]
    mask = torch.from_numpy(known).float()[None, None]
    rgb = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        cpu = net(rgb, depth * mask, mask)
        gpu = net.cuda()(rgb.cuda(), (depth * mask).cuda(), mask.cuda()).cpu()
    assert ((cpu - gpu).abs() / cpu < 1e-3).float().mean() > 0.99


def test_multigrid_preconditioner_keeps_iterations_low() -> None:
    """The V-cycle makes the iteration count independent of the hole's width: 48 iterations suffice at 512 px."""
    values, known = _scene(6, 256, 512)
    ref = laplacian_fill(values, known)
    out = laplacian_fill_torch(torch.from_numpy(values)[None, None], torch.from_numpy(known)[None, None],
                               max_iter=48)[0, 0].numpy()
    assert np.abs(out - ref).max() < 1e-4 * np.ptp(values)
