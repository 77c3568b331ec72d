"""The reference rasteriser against a per-pixel brute-force loop, autograd against finite differences, and the
compositing rules (depth order, transmittance, background, culling)."""

from __future__ import annotations

import torch
from conftest import random_gaussians

from core.camera import Camera, Intrinsics
from core.gaussians.model import Gaussians, rgb_to_sh_dc
from core.gaussians.rasterize import ALPHA_MAX, ALPHA_MIN, camera_tensors, project_gaussians, rasterize_reference


def brute_force(g: Gaussians, cam: Camera) -> torch.Tensor:
    """Every Gaussian over the whole image, front to back, straight from the 3DGS compositing equation (no
    boxes, no pair lists, no sorting of pixels)."""
    K, w2c, W, H = camera_tensors(cam, "cpu")
    p = project_gaussians(g, K, w2c, W, H)
    y, x = torch.meshgrid(torch.arange(H, dtype=torch.float32), torch.arange(W, dtype=torch.float32), indexing="ij")
    out = torch.zeros(H, W, 3)
    T = torch.ones(H, W)
    for i in range(len(p["ids"])):
        dx, dy = x - p["means2d"][i, 0], y - p["means2d"][i, 1]
        a, b, c = p["conics"][i]
        power = -0.5 * (a * dx * dx + c * dy * dy) - b * dx * dy
        alpha = (p["opacities"][i] * torch.exp(power)).clamp_max(ALPHA_MAX)
        alpha = torch.where((power > 0) | (alpha < ALPHA_MIN), torch.zeros_like(alpha), alpha)
        out += (alpha * T)[..., None] * p["colors"][i]
        T = T * (1 - alpha)
    return out


def test_matches_brute_force(origin_camera):
    g = random_gaussians(40, sh_degree=1, seed=0).detach()
    fast = rasterize_reference(g, origin_camera)
    slow = brute_force(g, origin_camera)
    assert fast.num_pairs > 200
    assert torch.allclose(fast.image, slow, atol=1e-5)


def test_gradients_match_finite_differences():
    cam = Camera(Intrinsics.from_fov(10, 8, 50.0), torch.eye(4))
    g = random_gaussians(3, sh_degree=1, seed=5, dtype=torch.float64)
    weights = torch.rand(8, 10, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)

    def loss(means, log_scales, opacity_logits, sh):
        h = Gaussians(means, g.quats, log_scales, opacity_logits, sh)
        return (rasterize_reference(h, cam).image * weights).sum()

    inputs = tuple(t.clone().requires_grad_() for t in (g.means, g.log_scales, g.opacity_logits, g.sh))
    assert torch.autograd.gradcheck(loss, inputs, eps=1e-6, atol=1e-4, rtol=1e-3)


def _blob(x: float, z: float, rgb: tuple[float, float, float], opacity: float = 0.95) -> Gaussians:
    return Gaussians(
        means=torch.tensor([[x, 0.0, z]]),
        quats=torch.tensor([[1.0, 0.0, 0.0, 0.0]]),
        log_scales=torch.log(torch.full((1, 3), 0.3)),
        opacity_logits=torch.logit(torch.tensor([opacity])),
        sh=rgb_to_sh_dc(torch.tensor([rgb]))[:, None, :],
    )


def test_nearer_gaussian_wins_whatever_the_order(origin_camera):
    red_near, green_far = _blob(0.0, 2.0, (1.0, 0.0, 0.0)), _blob(0.0, 4.0, (0.0, 1.0, 0.0))
    for parts in ([red_near, green_far], [green_far, red_near]):
        image = rasterize_reference(Gaussians.concat(parts), origin_camera).image
        centre = image[15, 20]
        assert centre[0] > 0.9 and centre[1] < 0.1  # red covers green, transmittance 1 - 0.95 left for it
        assert abs(float(centre[1]) - 0.05 * 0.95) < 0.01


def test_background_alpha_depth_and_culling(origin_camera):
    g = _blob(0.0, 3.0, (0.2, 0.4, 0.6), opacity=0.5)
    out = rasterize_reference(g, origin_camera, background=(1.0, 1.0, 1.0))
    assert abs(float(out.alpha[15, 20]) - 0.5) < 0.02
    assert torch.allclose(out.image[15, 20], torch.tensor([0.6, 0.7, 0.8]), atol=0.02)
    assert torch.allclose(out.image[0, 0], torch.ones(3))  # untouched pixel = background
    assert abs(float(out.depth[15, 20]) - 3.0) < 1e-3
    behind = _blob(0.0, -3.0, (1.0, 1.0, 1.0))
    empty = rasterize_reference(behind, origin_camera)
    assert empty.num_pairs == 0 and empty.image.abs().sum() == 0 and len(empty.visible) == 0
