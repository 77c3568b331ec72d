"""The ``--threads`` option shared by the commands that run torch on the CPU (``run``, ``render-video``)."""

from __future__ import annotations

import argparse


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (0 = idle cores by the load average, at least 1; docs/SPEED.md)")


def apply_threads_argument(threads: int) -> int:
    """Validate ``--threads`` and set torch's threads by ``core.threads.apply_thread_policy``; returns the number."""
    from core.errors import InputError
    from core.threads import apply_thread_policy

    if threads < 0:
        raise InputError(f"--threads must be >= 0, got {threads}")
    return apply_thread_policy(threads)
