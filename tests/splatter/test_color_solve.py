"""The closed-form colour solve: the rasteriser's pair weights, the solve's oracle, masks, errors (the product path:
tests/gaussians/test_stage_feedforward.py)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.camera import Camera, Intrinsics, unproject_depth
from core.errors import InputError
from core.gaussians.fit import evaluate
from core.gaussians.model import Gaussians, rgb_to_sh_dc, sh_dc_to_rgb
from core.gaussians.rasterize import pair_weights, rasterize_reference
from core.splatter.color_solve import solve_colors

H, W = 18, 24
PHOTO = Path(__file__).resolve().parents[2] / "examples" / "chelsea.jpg"


def _pixel_splats(seed: int = 0, scale_px: float = 0.3) -> tuple[Gaussians, Camera, torch.Tensor]:
    """One splat per pixel on a tilted plane (neighbours overlap in depth order), random colours; and the camera."""
    gen = torch.Generator().manual_seed(seed)
    intr = Intrinsics.from_fov(W, H, 60.0)
    cam = Camera(intr, torch.eye(4))
    u = torch.arange(W, dtype=torch.float32)
    depth = (2.0 + 0.04 * u)[None, :].expand(H, W) + 0.1 * torch.rand(H, W, generator=gen)
    means = unproject_depth(depth, intr.matrix()).reshape(-1, 3)
    n = len(means)
    scales = (depth.reshape(-1) / intr.fx * scale_px).log()[:, None].expand(n, 3).contiguous()
    colors = torch.rand(n, 3, generator=gen)
    quats = torch.tensor([1.0, 0.0, 0.0, 0.0]).expand(n, 4).contiguous()
    g = Gaussians(means, quats, scales, torch.full((n,), math.log(0.98 / 0.02)), rgb_to_sh_dc(colors)[:, None])
    return g, cam, colors


def test_pair_weights_reproduce_the_rasteriser_image_and_respect_a_mask():
    g, cam, _ = _pixel_splats()
    image = rasterize_reference(g, cam).image.reshape(-1, 3)
    pw = pair_weights(g, cam)
    rebuilt = torch.zeros_like(image).index_add_(0, pw.pix, pw.weight[:, None] * pw.colors)
    torch.testing.assert_close(rebuilt, image, atol=1e-5, rtol=1e-5)
    mask = torch.zeros(H, W, dtype=torch.bool)
    mask[4:9, 10:20] = True
    pm = pair_weights(g, cam, mask)
    assert mask.reshape(-1)[pm.pix].all() and len(pm.pix) < len(pw.pix)
    part = torch.zeros_like(image).index_add_(0, pm.pix, pm.weight[:, None] * pm.colors)
    torch.testing.assert_close(part[mask.reshape(-1)], image[mask.reshape(-1)], atol=1e-5, rtol=1e-5)


def test_solve_recovers_the_colours_that_made_the_image():
    g, cam, truth = _pixel_splats()
    target = rasterize_reference(g, cam).image
    grey = Gaussians(g.means, g.quats, g.log_scales, g.opacity_logits, torch.zeros_like(g.sh))
    start = rasterize_reference(grey, cam).image
    solved = solve_colors(grey, [cam], [target], iters=40, damping=1e-6)
    after = rasterize_reference(solved, cam).image
    assert float((after - target).abs().max()) < 2e-3 < float((start - target).abs().max())
    # Every splat owns its pixel (opacity 0.98 at its centre), so the colours themselves come back.
    assert float((sh_dc_to_rgb(solved.sh[:, 0]) - truth).abs().max()) < 2e-2
    # Geometry and opacity are untouched.
    for name in ("means", "quats", "log_scales", "opacity_logits"):
        assert torch.equal(getattr(solved, name), getattr(g, name))


def test_solve_undoes_the_footprint_blur_of_pixel_coloured_splats():
    """Splats carrying their own pixel's colour render a blurred image; a few steps bring it back sharp."""
    g, cam, _ = _pixel_splats(seed=3)
    photo = torch.from_numpy(np.asarray(Image.open(PHOTO).convert("RGB").resize((W, H), Image.Resampling.BOX)))
    photo = photo.float() / 255.0
    naive = Gaussians(g.means, g.quats, g.log_scales, g.opacity_logits, rgb_to_sh_dc(photo.reshape(-1, 3))[:, None])
    before = evaluate(naive, [cam], [photo])[0]
    after = evaluate(solve_colors(naive, [cam], [photo], iters=6), [cam], [photo])[0]
    assert after > before + 8, (before, after)  # measured: 28.0 -> 40.4 dB


def test_unmarked_pixels_constrain_nothing():
    g, cam, _ = _pixel_splats()
    target = torch.ones(H, W, 3)
    mask = torch.zeros(H, W, dtype=torch.bool)
    mask[:, :6] = True
    solved = solve_colors(g, [cam], [target], [mask], iters=5)
    changed = (solved.sh[:, 0] - g.sh[:, 0]).abs().amax(dim=1) > 1e-6
    u = torch.arange(H * W) % W
    assert changed[u < 5].all() and not changed[u >= 9].any()  # reach of a 0.3-px splat: under 3 pixels
    assert solve_colors(g, [cam], [target], iters=0) is g


def test_bad_targets_are_clear_errors():
    g, cam, _ = _pixel_splats()
    with pytest.raises(InputError, match="shape"):
        solve_colors(g, [cam], [torch.zeros(H + 1, W, 3)])
    with pytest.raises(InputError, match="one target"):
        solve_colors(g, [cam, cam], [torch.zeros(H, W, 3)])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_solve_on_cuda_matches_the_cpu():
    g, cam, _ = _pixel_splats(seed=4)
    photo = torch.rand(H, W, 3, generator=torch.Generator().manual_seed(6))
    cpu = solve_colors(g, [cam], [photo], iters=5)
    gpu = solve_colors(g.to("cuda"), [cam], [photo.cuda()], iters=5)
    torch.testing.assert_close(gpu.sh.cpu(), cpu.sh, atol=1e-3, rtol=1e-3)
