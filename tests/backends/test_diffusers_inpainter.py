"""``diffusers:<dir>`` inpainting with a tiny 9-channel SD pipeline saved to disk, run through the registry."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from core.backends import registry
from core.backends.base import Inpainter
from core.backends.diffusers_inpainter import feather_weights, pad_to_multiple
from core.errors import InputError


@pytest.fixture()
def hole(photo: np.ndarray) -> np.ndarray:
    mask = np.zeros(photo.shape[:2], bool)
    mask[12:36, 20:50] = True
    return mask


@pytest.fixture(scope="module")
def inpainter(tiny_inpaint_dir: Path):
    return registry.build("inpainter", f"diffusers:{tiny_inpaint_dir}", prefill=None, steps=2, guidance=2.0)


def test_only_masked_pixels_change(inpainter, photo: np.ndarray, hole: np.ndarray) -> None:
    assert isinstance(inpainter, Inpainter)
    out = inpainter(photo, hole, "a wooden door", seed=3)
    assert out.shape == photo.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[~hole], photo[~hole])  # known pixels exact
    assert (out[hole] != photo[hole]).mean() > 0.5  # the hole really was repainted


def test_seed_makes_it_reproducible(inpainter, photo: np.ndarray, hole: np.ndarray) -> None:
    a = inpainter(photo, hole, "sky", seed=7)
    b = inpainter(photo, hole, "sky", seed=7)
    c = inpainter(photo, hole, "sky", seed=8)
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()


def test_empty_mask_returns_the_image(inpainter, photo: np.ndarray) -> None:
    out = inpainter(photo, np.zeros(photo.shape[:2], bool))
    np.testing.assert_array_equal(out, photo)


def test_odd_sizes_and_full_resolution(tiny_inpaint_dir: Path) -> None:
    inp = registry.build("inpainter", f"diffusers:{tiny_inpaint_dir}", prefill=None, steps=1, resolution=40)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (37, 53, 3), dtype=np.uint8)
    mask = np.zeros((37, 53), bool)
    mask[5:20, 30:50] = True
    out = inp(image, mask, seed=0)
    assert out.shape == image.shape
    np.testing.assert_array_equal(out[~mask], image[~mask])


def test_bad_inputs_raise(inpainter, tiny_inpaint_dir: Path, photo: np.ndarray) -> None:
    with pytest.raises(InputError, match="mask shape"):
        inpainter(photo, np.zeros((3, 3), bool))
    with pytest.raises(InputError, match="strength"):
        registry.build("inpainter", f"diffusers:{tiny_inpaint_dir}", prefill=None, strength=0.0)


def test_feather_is_zero_outside_and_one_deep_inside() -> None:
    mask = np.zeros((21, 21), bool)
    mask[2:19, 2:19] = True
    w = feather_weights(mask, radius=4)
    assert (w[~mask] == 0).all()
    assert w[10, 10] == 1.0
    assert 0 < w[2, 10] < 1  # on the rim of the hole


def test_pad_to_multiple_reflects() -> None:
    image = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)
    padded, (h, w) = pad_to_multiple(image, 4)
    assert padded.shape == (8, 8, 3) and (h, w) == (5, 7)
    np.testing.assert_array_equal(padded[:5, :7], image)
    np.testing.assert_array_equal(padded[5, :7], image[3])  # reflection, not zeros


@pytest.mark.skipif(importlib.util.find_spec("core.backends.patchmatch_inpainter") is None,
                    reason="the patchmatch inpainter backend is not in this tree yet")
def test_patchmatch_prefill(tiny_inpaint_dir: Path, photo: np.ndarray, hole: np.ndarray) -> None:
    inp = registry.build("inpainter", f"diffusers:{tiny_inpaint_dir}", steps=1, prefill="patchmatch")
    out = inp(photo, hole, seed=0)
    np.testing.assert_array_equal(out[~hole], photo[~hole])
