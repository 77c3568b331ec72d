"""The embedded PatchMatch inpainter on a real photo."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import photo_array

from core.backends.patchmatch_inpainter import PatchMatchInpainter, build
from core.backends.registry import build_inpainter
from core.errors import InputError


def test_fills_only_the_mask_and_is_seeded() -> None:
    image = photo_array("chelsea.jpg")[:128, :160].copy()
    mask = np.zeros(image.shape[:2], bool)
    mask[40:80, 60:110] = True
    inpaint = build_inpainter("patchmatch")
    a = inpaint(image, mask, "a cat", seed=1)
    b = inpaint(image, mask, "a cat", seed=1)
    assert np.array_equal(a, b)
    assert np.array_equal(a[~mask], image[~mask])
    assert not np.array_equal(a[mask], image[mask])


def test_continues_a_flat_texture() -> None:
    image = np.zeros((64, 64, 3), np.uint8)
    image[...] = (30, 140, 200)
    mask = np.zeros((64, 64), bool)
    mask[:, 40:] = True
    image[mask] = 0
    out = PatchMatchInpainter()(image, mask, seed=0)
    assert np.abs(out[mask].astype(int) - [30, 140, 200]).max() <= 2


def test_specs() -> None:
    assert build("5").patch_size == 5
    with pytest.raises(InputError, match="odd patch size"):
        build("4")
    full = PatchMatchInpainter()(np.zeros((16, 16, 3), np.uint8), np.ones((16, 16), bool))
    assert (full == 127).all()


def test_working_scale_specs_and_reduced_fill() -> None:
    assert build().work_scale == 0.5
    assert build("3:1").work_scale == 1.0 and build("5:0.25").patch_size == 5
    for bad in ("3:0", "3:1.5", "3:x", "3:1:2"):
        with pytest.raises(InputError, match="working scale"):
            build(bad)
    image = photo_array("chelsea.jpg")[:128, :160].copy()
    mask = np.zeros(image.shape[:2], bool)
    mask[40:80, 60:110] = True
    half = PatchMatchInpainter(work_scale=0.5)(image, mask, seed=0)
    full = PatchMatchInpainter(work_scale=1.0)(image, mask, seed=0)
    assert np.array_equal(half[~mask], image[~mask])
    assert not np.array_equal(half[mask], full[mask])
    # A plausible fill: close to the photo's own colours around the hole, like the full-resolution one.
    ring = np.zeros_like(mask)
    ring[30:90, 50:120] = True
    ring &= ~mask
    for out in (half, full):
        assert np.abs(out[mask].mean(0) - image[ring].mean(0)).max() < 40
