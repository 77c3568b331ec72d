"""The classical fills: nearest copies the closest known depth, the Laplacian fill is harmonic."""

import numpy as np
import pytest

from core.backends.base import DepthCompleter
from core.backends.classical_fill import laplacian_fill, nearest_fill
from core.backends.registry import build_depth_completer


def _image(h, w):
    return np.zeros((h, w, 3), np.uint8)


def test_nearest_copies_the_closest_known_pixel():
    depth = np.zeros((1, 7), np.float32)
    depth[0, 0], depth[0, 6] = 1.0, 5.0
    known = depth > 0
    out = nearest_fill(depth, known)
    assert out.tolist() == [[1, 1, 1, 1, 5, 5, 5]] or out.tolist() == [[1, 1, 1, 5, 5, 5, 5]]
    assert out[0, 2] == 1.0 and out[0, 4] == 5.0


def test_laplacian_reproduces_a_plane_exactly_and_keeps_known_pixels():
    yy, xx = np.mgrid[:40, :50]
    plane = (2.0 + 0.03 * xx - 0.01 * yy).astype(np.float32)
    known = np.ones_like(plane, bool)
    known[5:30, 10:45] = False
    depth = np.where(known, plane, 0)
    out = laplacian_fill(depth, known)
    np.testing.assert_allclose(out, plane, atol=1e-4)


def test_laplacian_is_the_mean_of_its_neighbours_in_the_hole():
    rng = np.random.default_rng(0)
    depth = rng.uniform(1, 3, (20, 20)).astype(np.float32)
    known = np.ones((20, 20), bool)
    known[4:12, 6:15] = False
    out = laplacian_fill(np.where(known, depth, 0), known).astype(np.float64)
    inner = (out[3:11, 6:15] + out[5:13, 6:15] + out[4:12, 5:14] + out[4:12, 7:16]) / 4
    np.testing.assert_allclose(out[4:12, 6:15], inner, atol=1e-5)
    np.testing.assert_array_equal(out[known], depth[known])


@pytest.mark.parametrize("spec", ["nearest", "laplacian"])
def test_registry_builds_depth_completers_that_need_known_depth(spec):
    completer = build_depth_completer(spec)
    assert isinstance(completer, DepthCompleter) and completer.name == spec
    depth = np.zeros((8, 8), np.float32)
    with pytest.raises(ValueError, match="known depth"):
        completer(_image(8, 8), depth, np.zeros((8, 8), bool))
    depth[:, :3] = 2.0
    out = completer(_image(8, 8), depth, depth > 0)
    assert out.dtype == np.float32 and out.shape == (8, 8)
    np.testing.assert_allclose(out, 2.0)
