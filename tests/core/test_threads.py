"""The thread policy: idle cores by load, the user's number always wins."""

from __future__ import annotations

import torch

from core.threads import apply_thread_policy, available_cores, choose_threads


def test_requested_wins() -> None:
    assert choose_threads(3, cores=2, load=10.0) == 3


def test_idle_cores_from_load() -> None:
    assert choose_threads(cores=2, load=0.2) == 2  # quiet: every core
    assert choose_threads(cores=2, load=1.2) == 1  # one core busy elsewhere
    assert choose_threads(cores=2, load=14.0) == 1  # overloaded: still one
    assert choose_threads(cores=16, load=4.4) == 12


def test_apply_sets_torch() -> None:
    before = torch.get_num_threads()
    try:
        n = apply_thread_policy(0)
        assert 1 <= n <= available_cores()
        assert torch.get_num_threads() == n
    finally:
        torch.set_num_threads(before)
