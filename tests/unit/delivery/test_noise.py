"""Noise rules as pure decisions over a fake clock: realert, inhibition windows, silences, digests."""

from __future__ import annotations

import pytest

from signal_monitor.delivery.dispatcher import backoff_delay, claim_key
from signal_monitor.delivery.noise import (
    Silence,
    chunks,
    inhibit_active,
    parse_scope,
    realert_blocks,
    realert_key,
    silenced_by,
)
from tests.unit.delivery.factory import make_alert

HOUR = 3600.0


class FakeClock:
    """A clock that moves only when told."""

    def __init__(self, start: float = 1_750_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        """Return the current fake time."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += seconds


def _silence(
    clock: FakeClock, *, rule: str = "vix_below_17", scope: dict[str, str] | None = None, hours: float = 2.0
) -> Silence:
    now = clock()
    return Silence(
        id="abc12345",
        rule=rule,
        scope=scope or {},
        starts_at=now,
        ends_at=now + hours * HOUR,
        reason="known data issue",
        created_at=now,
    )


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


def test_silence_covers_its_rule_and_scope_until_it_ends() -> None:
    clock = FakeClock()
    silence = _silence(clock, scope={"symbol": "VIX"})
    vix = make_alert("vix_below_17", {"symbol": "VIX"})
    assert silenced_by(vix, [silence], clock()) == silence
    assert silenced_by(make_alert("vix_below_17", {"symbol": "VIX9D"}), [silence], clock()) is None
    assert silenced_by(make_alert("other", {"symbol": "VIX"}), [silence], clock()) is None
    clock.advance(2 * HOUR - 1)
    assert silenced_by(vix, [silence], clock()) == silence
    clock.advance(1)
    assert silenced_by(vix, [silence], clock()) is None
    assert "expired" in silence.describe(clock())


def test_silence_with_partial_scope_and_wildcard_rule() -> None:
    clock = FakeClock()
    sector_wide = _silence(clock, rule="*", scope={"sector": "Energy"})
    assert sector_wide.matches(make_alert("a", {"sector": "Energy", "fund_type": "hedge_fund"}))
    assert not sector_wide.matches(make_alert("a", {"fund_type": "hedge_fund"}))
    assert "ends in 2h" in sector_wide.describe(clock())


def test_inhibition_lasts_its_duration() -> None:
    clock = FakeClock()
    recorded = clock()
    clock.advance(HOUR)
    assert inhibit_active(recorded, clock(), 2 * HOUR)
    clock.advance(HOUR)
    assert not inhibit_active(recorded, clock(), 2 * HOUR)
    assert not inhibit_active(None, clock(), 2 * HOUR)


def test_digest_chunks_keep_order() -> None:
    assert chunks(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert chunks([], 3) == []


def test_parse_scope() -> None:
    assert parse_scope(["sector=Energy", " symbol = VIX "]) == {"sector": "Energy", "symbol": "VIX"}
    with pytest.raises(ValueError, match="expected key=value"):
        parse_scope(["sector"])


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
