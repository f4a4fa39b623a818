"""The dispatcher's pure parts: claim keys, retry backoff, digest chunks."""

from __future__ import annotations

from signal_monitor.delivery.dispatcher import backoff_delay, chunks, claim_key
from tests.unit.delivery.factory import make_alert


def test_digest_chunks_keep_order() -> None:
    assert chunks(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert chunks([], 3) == []


def test_claim_key_of_a_correction_carries_the_revision() -> None:
    first = make_alert()
    assert claim_key(first) == first.dedup_key
    correction = make_alert(revision=3)
    assert claim_key(correction) == f"{first.dedup_key}:v3"


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    def full(n: int) -> float:
        return backoff_delay(n, base=1.0, cap=30.0, jitter=1.0)

    assert [full(n) for n in (1, 2, 3, 4, 5, 6, 10)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert [backoff_delay(n, base=1.0, cap=30.0, jitter=0.0) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]
