"""Alerts for delivery tests: valid ``Alert`` objects with only the fields a test cares about given; a fake clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from signal_monitor.rules.alert import Alert, dedup_key

FRIDAY = date(2025, 6, 6)


def make_alert(
    rule: str = "sector_net_buying_high",
    scope: dict[str, str] | None = None,
    *,
    severity: str = "warning",
    period: date = FRIDAY,
    text: str | None = None,
    value: float | None = 2.41e9,
    threshold: float | None = 1.0e9,
    context: dict[str, Any] | None = None,
    labels: dict[str, str] | None = None,
    revision: int = 1,
    fired: bool = True,
    provisional: bool = False,
) -> Alert:
    """Return an alert of ``rule`` for ``scope`` and the week ending ``period``."""
    scope = {"sector": "Industrials"} if scope is None else scope
    key = dedup_key(rule, scope, period)
    return Alert(
        rule=rule,
        scope=scope,
        granularity="week",
        period_start=period - timedelta(days=4),
        period_end=period,
        value=value,
        threshold=threshold,
        context={"since": "2024-10-25", "periods_ago": 32} if context is None else context,
        severity=severity,  # type: ignore[arg-type]
        labels={"desk": "equities"} if labels is None else labels,
        dedup_key=key if revision == 1 else f"{key}:v{revision}",
        text=text if text is not None else f"{rule}: {scope} moved by $2.41B this week, the most since 2024-10-25.",
        fired=fired,
        provisional=provisional,
        correction=revision > 1,
        revision=revision,
        fired_at=datetime(2025, 6, 6, 21, 0, tzinfo=UTC),
    )


def weekly(rule: str, n: int, *, scope: dict[str, str] | None = None, severity: str = "warning") -> list[Alert]:
    """Return ``n`` alerts of ``rule`` for ``n`` consecutive weeks (distinct dedup keys), oldest first."""
    return [make_alert(rule, scope, severity=severity, period=FRIDAY + timedelta(weeks=i)) for i in range(n)]


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
