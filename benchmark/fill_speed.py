"""Speed of the colourisation fill's sparse solve: nested dissection (``core.grid_solve``) against SuperLU's orderings.

The systems are the ones the fill meets on a real photo: the left Middlebury motorcycle view (resized so that its
longer side is ``--size``, the depth completer's working resolution by default) with the holes that each of the
reader's moved cameras leaves in it (``training.data.pairs.make_pair_sample``). For every system the same process
factorises and solves with each ordering, ``--repeats`` times, and reports the median CPU time (the process's, so
another job on the machine does not count) and the ratio against SuperLU's default ordering, COLAMD, and the
largest difference between the solutions.

    python -m benchmark.fill_speed [--size 320] [--repeats 3]

SuperLU factorises on one thread, so there is no thread option.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import splu

from core.grid_solve import solve_on_grid
from core.guided_fill import colorization_system


def _systems(size: int) -> list[tuple[str, sparse.csc_matrix, np.ndarray, np.ndarray, np.ndarray]]:
    """(name, A, rhs, rows, cols) of the colourisation system for each moved camera's hole in the left view."""
    from training.data.middlebury import SCENE_ID, MiddleburyReader
    from training.data.pairs import make_pair_sample

    reader = MiddleburyReader(max_side=size)
    frames = reader.frames(SCENE_ID)
    ids = reader.frame_ids(SCENE_ID)
    left = frames[ids.index("left")]
    out = []
    for fid in ids:
        if fid == "left":
            continue
        known = make_pair_sample(frames[ids.index(fid)], left)["known_mask"]
        if known.all():
            continue
        u, a, rhs = colorization_system(left.image, np.log(np.maximum(left.depth, 1e-3)), known)
        rows, cols = np.divmod(u, known.shape[1])
        out.append((fid, a, rhs, rows, cols))
    return out


def _cpu_median(fn: Callable[..., np.ndarray], args: tuple, repeats: int) -> tuple[float, np.ndarray]:
    times, result = [], None
    for _ in range(repeats):
        t = time.process_time()
        result = fn(*args)
        times.append(time.process_time() - t)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.fill_speed", description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=320, help="longer image side in pixels (default: 320)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    systems = _systems(args.size)
    orderings: dict[str, Callable] = {
        "COLAMD": lambda a, b, r, c: splu(a, permc_spec="COLAMD").solve(b),
        "MMD_AT_PLUS_A": lambda a, b, r, c: splu(a, permc_spec="MMD_AT_PLUS_A").solve(b),
        "nested dissection": lambda a, b, r, c: solve_on_grid(a, b, r, c),
    }
    totals = dict.fromkeys(orderings, 0.0)
    print(f"{'pair':<16}{'unknowns':>9}" + "".join(f"{name:>20}" for name in orderings) + f"{'max |diff|':>12}")
    for fid, a, rhs, rows, cols in systems:
        times, results = {}, {}
        for name, solve in orderings.items():
            times[name], results[name] = _cpu_median(solve, (a, rhs, rows, cols), args.repeats)
            totals[name] += times[name]
        diff = float(np.abs(results["nested dissection"] - results["COLAMD"]).max())
        print(f"{fid:<16}{a.shape[0]:>9}" + "".join(f"{times[n]:>19.3f}s" for n in orderings) + f"{diff:>12.1e}")
    ref = totals["COLAMD"]
    print(f"{'total':<25}" + "".join(f"{totals[n]:>19.3f}s" for n in orderings))
    print(f"{'speed-up over COLAMD':<25}" + "".join(f"{ref / totals[n]:>19.2f}x" for n in orderings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
