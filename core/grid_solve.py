"""Direct solves of the sparse systems that image fills pose on a pixel grid, with a nested-dissection ordering.

Why not SuperLU's own orderings: the unknowns of a fill are pixels, and each couples only to pixels a step or two
away. For such grid graphs nested dissection -- split the pixels by a line, order the two halves first and the
line last, recurse -- is the ordering with the least fill-in (George, 1973), and on a grid it needs no graph
partitioner: the split lines are image rows and columns. Measured on the colourisation systems of the Middlebury
holes (``python -m benchmark.fill_speed``): faster than COLAMD and the minimum-degree ordering, with the same
solution to rounding. The Laplacian fill's symmetric 5-point systems are the exception: there SuperLU's
minimum-degree ordering on A^T + A was faster (docs/SPEED.md), so :mod:`core.fill` keeps it.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import splu

LEAF_SIZE = 64
"""Pixel sets at most this large are not split further (their dense blocks are cheap)."""


def nested_dissection_order(rows: np.ndarray, cols: np.ndarray, *, reach: int = 1, leaf: int = LEAF_SIZE
                            ) -> np.ndarray:
    """A permutation of the pixels (``rows``, ``cols``): each part ordered before the separator that splits it.

    ``reach`` is how many pixels apart two coupled unknowns may be (1 for the 4- and 8-neighbour stencils):
    the separator is a band of that many rows (or columns) through the median, across the longer side.
    """
    rows = np.asarray(rows)
    cols = np.asarray(cols)
    parts: list[np.ndarray] = []
    # Iterative post-order: a part is split into (low half, high half, separator); the separator is pushed first
    # as a finished part so that it pops after both halves are done.
    stack: list[tuple[np.ndarray, bool]] = [(np.arange(len(rows)), False)]
    while stack:
        idx, done = stack.pop()
        if done or len(idx) <= leaf:
            parts.append(idx)
            continue
        r, c = rows[idx], cols[idx]
        key = r if np.ptp(r) >= np.ptp(c) else c
        mid = int(np.median(key))
        lo, hi = key < mid, key >= mid + reach
        if not lo.any() and not hi.any():
            parts.append(idx)
            continue
        stack += [(idx[~(lo | hi)], True), (idx[hi], False), (idx[lo], False)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def solve_on_grid(A: sparse.spmatrix, rhs: np.ndarray, rows: np.ndarray, cols: np.ndarray, *, reach: int = 1
                  ) -> np.ndarray:
    """``A^-1 rhs`` for a system whose unknown ``i`` is the pixel (``rows[i]``, ``cols[i]``).

    ``A`` must be diagonally dominant (the colourisation matrix is an M-matrix), so no pivoting is needed and the
    nested-dissection order is kept as given.
    """
    order = nested_dissection_order(rows, cols, reach=reach)
    permuted = sparse.csc_matrix(A)[order][:, order].tocsc()
    lu = splu(permuted, permc_spec="NATURAL", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    out = np.empty(len(order), dtype=np.float64)
    out[order] = lu.solve(np.asarray(rhs, dtype=np.float64)[order])
    return out
