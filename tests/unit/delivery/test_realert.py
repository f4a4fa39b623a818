"""Realert as a pure decision over a fake clock, and the key it is kept under (rule and scope, not period)."""

from __future__ import annotations

from signal_monitor.delivery.realert import realert_blocks, realert_key
from tests.unit.delivery.factory import FakeClock, make_alert

HOUR = 3600.0


def test_realert_drops_repeats_within_the_interval_only() -> None:
    clock = FakeClock()
    last = clock()
    clock.advance(59 * 60)
    assert realert_blocks(last, clock(), HOUR)
    clock.advance(60)
    assert not realert_blocks(last, clock(), HOUR)
    assert not realert_blocks(None, clock(), HOUR)
    assert not realert_blocks(last, last, 0.0)  # realert off


def test_realert_key_is_rule_and_scope_not_period() -> None:
    week1 = make_alert("r", {"sector": "Energy"})
    week2 = make_alert("r", {"sector": "Energy"}, period=week1.period_end.replace(day=13))
    other = make_alert("r", {"sector": "Tech"})
    assert realert_key("sm", "desk", week1) == realert_key("sm", "desk", week2)
    assert realert_key("sm", "desk", week1) != realert_key("sm", "desk", other)
    assert realert_key("sm", "desk", week1) != realert_key("sm", "urgent", week1)
    assert week1.dedup_key != week2.dedup_key
