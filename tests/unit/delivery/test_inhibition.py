"""Inhibition windows as a pure decision over a fake clock."""

from __future__ import annotations

from signal_monitor.delivery.inhibition import inhibit_active
from tests.unit.delivery.factory import FakeClock

HOUR = 3600.0


def test_inhibition_lasts_its_duration() -> None:
    clock = FakeClock()
    recorded = clock()
    clock.advance(HOUR)
    assert inhibit_active(recorded, clock(), 2 * HOUR)
    clock.advance(HOUR)
    assert not inhibit_active(recorded, clock(), 2 * HOUR)
    assert not inhibit_active(None, clock(), 2 * HOUR)
