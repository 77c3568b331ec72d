"""The Celery task's retry policy for transient errors (storage or broker unreachable, S3 5xx)."""

from __future__ import annotations

from worker.tasks import retry_delay


def test_retry_budget_outlasts_a_storage_restart() -> None:
    delays = []
    while (d := retry_delay(len(delays), 120.0)) is not None:
        delays.append(d)
    assert delays == [2, 4, 8, 16, 30, 30, 30] and sum(delays) == 120
    assert sum(delays[:4]) > 20  # a ~20 s restart is covered long before the budget is spent
    assert retry_delay(0, 1.0) is None  # a budget below the first backoff means no retry
