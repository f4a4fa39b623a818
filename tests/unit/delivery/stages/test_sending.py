"""Sending without Redis: the backoff between retries."""

from __future__ import annotations

from signal_monitor.delivery.stages.sending import backoff_delay


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    def full(n: int) -> float:
        return backoff_delay(n, base=1.0, cap=30.0, jitter=1.0)

    assert [full(n) for n in (1, 2, 3, 4, 5, 6, 10)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert [backoff_delay(n, base=1.0, cap=30.0, jitter=0.0) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]
