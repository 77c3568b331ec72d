"""Image-guided classical fills: exact known depth, edges followed, scale equivariance, registry names."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.backends.classical_fill import laplacian_fill
from core.backends.registry import build_depth_completer
from core.errors import InputError
from core.guided_fill import bilateral_fill, bilateral_fill_depth, colorization_fill, colorization_weights, grey


def two_region_scene(h: int = 24, w: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A dark left object at 1 m in front of a bright wall at 3 m; depth known only in the outer columns."""
    rng = np.random.default_rng(0)
    edge = w // 2 - 3
    image = np.full((h, w, 3), 200, np.uint8)
    image[:, :edge] = 40
    image = np.clip(image + rng.integers(-3, 4, image.shape), 0, 255).astype(np.uint8)
    gt = np.where(np.arange(w)[None, :] < edge, 1.0, 3.0).repeat(h, 0).astype(np.float32)
    known = np.zeros((h, w), bool)
    known[:, :3] = True
    known[:, -3:] = True
    return image, gt, known


@pytest.mark.parametrize("fill", ["colorization", "colorization:log", "bilateral"])
def test_guided_fills_follow_the_image_edge_where_laplacian_cannot(fill: str) -> None:
    image, gt, known = two_region_scene()
    completer = build_depth_completer(fill)
    out = completer(image, np.where(known, gt, 0), known)
    assert out.dtype == np.float32 and out.shape == gt.shape
    np.testing.assert_array_equal(out[known], gt[known])
    hole = ~known
    guided = np.abs(out - gt)[hole].mean()
    harmonic = np.abs(laplacian_fill(np.where(known, gt, 0), known) - gt)[hole].mean()
    assert guided < 0.35 * harmonic, (guided, harmonic)


@pytest.mark.parametrize("fill", ["colorization", "bilateral"])
def test_guided_fills_are_scale_equivariant_and_need_known_depth(fill: str) -> None:
    image, gt, known = two_region_scene()
    completer = build_depth_completer(fill)
    a = completer(image, np.where(known, gt, 0), known)
    b = completer(image, np.where(known, 2.5 * gt, 0), known)
    np.testing.assert_allclose(b, 2.5 * a, rtol=1e-4)
    with pytest.raises(ValueError, match="known depth"):
        completer(image, gt, np.zeros_like(known))


def test_colorization_on_a_flat_image_reproduces_a_linear_ramp() -> None:
    """With a uniform image every weight is equal and a linear function is the exact solution."""
    h, w = 10, 16
    image = np.full((h, w, 3), 128, np.uint8)
    ramp = np.linspace(1.0, 4.0, w)[None].repeat(h, 0)
    known = np.zeros((h, w), bool)
    known[:, 0] = known[:, -1] = True
    out = colorization_fill(image, np.where(known, ramp, 0), known)
    np.testing.assert_allclose(out, ramp, rtol=1e-5)


def test_colorization_weights_are_row_stochastic_and_follow_the_nyu_constants() -> None:
    g = grey(np.random.default_rng(1).integers(0, 256, (6, 7, 3)).astype(np.uint8))
    W = colorization_weights(g)
    np.testing.assert_allclose(np.asarray(W.sum(axis=1)).ravel(), 1.0)
    assert W.diagonal().max() == 0.0
    assert W[0].nnz == 3 and W[7 + 1].nnz == 8  # corner: 3 neighbours, interior: 8
    # The most similar neighbour of every pixel keeps a weight of at least 0.01 before normalisation.
    r = 7 * 2 + 3
    row = W[r].toarray().ravel()
    assert row.max() > 0.01 / 8


def test_bilateral_fill_batches_and_keeps_empty_images_empty() -> None:
    image, gt, known = two_region_scene(16, 24)
    logd = torch.from_numpy(np.log(gt))[None, None].repeat(2, 1, 1, 1)
    mask = torch.from_numpy(known.astype(np.float32))[None, None].repeat(2, 1, 1, 1)
    mask[1] = 0
    guide = torch.from_numpy(image).permute(2, 0, 1)[None].float().repeat(2, 1, 1, 1) / 255
    out = bilateral_fill(logd * mask, mask, guide)
    single = bilateral_fill_depth(image, np.where(known, gt, 0), known)
    np.testing.assert_allclose(out[0, 0].exp().numpy(), single, rtol=1e-5)
    assert torch.all(out[1] == 0)


def test_bilateral_fill_of_a_batch_equals_each_image_alone() -> None:
    """Images with holes in different places (the rounds work on the bounding box of what is left over the batch)."""
    rng = np.random.default_rng(3)
    B, H, W = 3, 21, 34
    values = torch.from_numpy(rng.normal(size=(B, 1, H, W))).float()
    guide = torch.from_numpy(rng.random((B, 3, H, W))).float()
    mask = torch.ones(B, 1, H, W)
    mask[0, :, :, :9] = 0  # a strip on the left
    mask[1, :, 12:, 20:] = 0  # a block bottom right
    mask[2, :, 5:8, 3:30] = 0  # a thin band
    batched = bilateral_fill(values * mask, mask, guide)
    for i in range(B):
        alone = bilateral_fill(values[i : i + 1] * mask[i : i + 1], mask[i : i + 1], guide[i : i + 1])
        torch.testing.assert_close(batched[i : i + 1], alone)
    assert not torch.equal(batched[0], values[0] * mask[0])


def test_registry_rejects_bad_arguments() -> None:
    with pytest.raises(InputError, match="colorization"):
        build_depth_completer("colorization:cubic")
    with pytest.raises(InputError, match="bilateral"):
        build_depth_completer("bilateral:3")
