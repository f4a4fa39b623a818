"""Admission without Redis: the key an alert is claimed under."""

from __future__ import annotations

from signal_monitor.delivery.stages.admission import claim_key
from tests.unit.delivery.factory import make_alert


def test_claim_key_of_a_correction_carries_the_revision() -> None:
    first = make_alert()
    assert claim_key(first) == first.dedup_key
    correction = make_alert(revision=3)
    assert claim_key(correction) == f"{first.dedup_key}:v3"
