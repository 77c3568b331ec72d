"""How many CPU threads torch should use: chosen from the machine's load unless the user says.

Why: torch's default is one thread per core. On a machine other jobs are using, those threads compete for busy
cores and OpenMP's idle threads spin-wait at every barrier, so the torch stages of a run swell 3-8x while one
thread runs 2-3x faster than two (measured on this project's 2-core CPU, see docs/SPEED.md). On an idle machine
all cores help. So the policy takes the cores nobody else is using, from the one-minute load average: at least
one, at most every core the process may run on. ``--threads N`` (``requested``) always wins.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the platform reports it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows
        return os.cpu_count() or 1


def choose_threads(requested: int = 0, *, cores: int | None = None, load: float | None = None) -> int:
    """Threads for torch: ``requested`` if positive, else the idle cores (``cores`` minus the 1-minute load
    average, rounded, between 1 and ``cores``). ``cores`` / ``load`` default to this machine's."""
    if requested > 0:
        return requested
    cores = available_cores() if cores is None else cores
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):  # no load average (Windows): assume idle
            load = 0.0
    idle = cores - load
    return max(1, min(cores, int(idle + 0.5)))


def apply_thread_policy(requested: int = 0) -> int:
    """Set torch's intra-op threads by :func:`choose_threads`; returns the number set."""
    import torch

    threads = choose_threads(requested)
    torch.set_num_threads(threads)
    log.debug("torch threads: %d (%s)", threads, "requested" if requested > 0 else "idle cores by load average")
    return threads
