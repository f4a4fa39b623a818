"""Silences as pure decisions over a fake clock: which alerts a silence covers and until when; scopes from the CLI."""

from __future__ import annotations

import pytest

from signal_monitor.delivery.silences import Silence, parse_scope, silenced_by
from tests.unit.delivery.factory import FakeClock, make_alert

HOUR = 3600.0


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


def test_parse_scope() -> None:
    assert parse_scope(["sector=Energy", " symbol = VIX "]) == {"sector": "Energy", "symbol": "VIX"}
    with pytest.raises(ValueError, match="expected key=value"):
        parse_scope(["sector"])
