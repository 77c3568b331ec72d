"""Nested-dissection solves of pixel-grid systems: a permutation, and the same solution as a plain sparse solve."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse.linalg import spsolve

from core.grid_solve import nested_dissection_order, solve_on_grid
from core.guided_fill import colorization_system


def _hole(h: int, w: int, seed: int) -> np.ndarray:
    """A border strip plus a few disconnected blobs, as a moved camera leaves them."""
    rng = np.random.default_rng(seed)
    hole = np.zeros((h, w), bool)
    hole[:, : w // 4] = True
    for _ in range(4):
        y, x = rng.integers(0, h), rng.integers(w // 3, w)
        hole[max(0, y - 5) : y + 6, max(0, x - 7) : x + 8] = True
    return hole


@pytest.mark.parametrize("leaf", [1, 7, 64, 10_000])
def test_order_is_a_permutation_with_each_separator_after_its_halves(leaf: int) -> None:
    rows, cols = np.nonzero(_hole(40, 60, 0))
    order = nested_dissection_order(rows, cols, leaf=leaf)
    assert np.array_equal(np.sort(order), np.arange(len(rows)))
    if leaf == 1:
        # The last pixel eliminated lies on the first separator: a full line through the median.
        first_split_rows = np.ptp(rows) >= np.ptp(cols)
        key = rows if first_split_rows else cols
        assert key[order[-1]] == int(np.median(key))


def test_solution_matches_a_direct_solve_on_a_colourisation_system() -> None:
    rng = np.random.default_rng(3)
    h, w = 48, 64
    image = (rng.random((h, w, 3)) * 255).astype(np.uint8)
    hole = _hole(h, w, 1)
    u, a, _ = colorization_system(image, np.zeros((h, w)), ~hole)
    rhs = rng.random(len(u))
    expected = spsolve(a.tocsc(), rhs)
    got = solve_on_grid(a, rhs, *np.divmod(u, w))
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
    assert np.abs(a @ got - rhs).max() < 1e-10
