"""The device twins of the step masks against core.masks (scipy) on the CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core import masks as M
from core import masks_device as D


def _coverage(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    cov = np.ones((48, 64), bool)
    cov[:, 40:52] = False  # a hole
    cov[rng.random((48, 64)) < 0.04] = False  # cracks
    cov[10, :] = False  # a line crack
    cov[0:3, 0:5] = False  # a hole at the border
    return cov


@pytest.mark.parametrize("radius", [1, 2])
def test_morphology_is_exact(radius: int) -> None:
    cov = _coverage(radius)
    t = torch.from_numpy(cov)
    assert np.array_equal(D.erode_t(t, radius).numpy(), M.erode(cov, radius))
    assert np.array_equal(D.dilate_t(t, radius).numpy(), M.dilate(cov, radius))
    assert np.array_equal(D.thin_cracks_t(t, radius).numpy(), M.thin_cracks(cov, radius))


def test_fill_from_nearest_takes_a_nearest_known_value() -> None:
    cov = _coverage(0)
    target = M.thin_cracks(cov, 1)
    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    ref = M.fill_from_nearest(img, cov, target)
    out = D.fill_from_nearest_t(torch.from_numpy(img), torch.from_numpy(cov), torch.from_numpy(target)).numpy()
    assert np.array_equal(out[~target], img[~target])
    assert (out[target] == ref[target]).all(axis=1).any()  # ties between equidistant pixels may go either way
    # every filled pixel copies some covered pixel at the nearest distance
    from scipy import ndimage

    dist = ndimage.distance_transform_edt(~cov)
    ys, xs = np.nonzero(target)
    for y, x in zip(ys, xs, strict=True):
        cand = [(yy, xx) for yy in range(48) for xx in range(64)
                if cov[yy, xx] and abs(np.hypot(yy - y, xx - x) - dist[y, x]) < 1e-6]
        assert any((img[c] == out[y, x]).all() for c in cand)


def test_snap_depth_edges_matches() -> None:
    depth = np.full((40, 60), 4.0, np.float32)
    depth[:, :30] = 1.5
    ramp = np.linspace(1.5, 4.0, 8, dtype=np.float32)
    depth[:, 26:34] = ramp  # a smooth foreground/background ramp
    depth[5:8, 50:55] = 0  # unknown
    ref = M.snap_depth_edges(depth, 60.0)
    out = D.snap_depth_edges_t(torch.from_numpy(depth), 60.0).numpy()
    assert np.allclose(out, ref, rtol=1e-6, atol=0)
    assert (out[depth == 0] == 0).all()
