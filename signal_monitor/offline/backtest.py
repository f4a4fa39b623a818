"""Backtest: how often rules would have fired over history, per rule and per year, from a replay's alerts.

The replay runs the live pipeline over the files (see :mod:`signal_monitor.offline.replay`); this module
only restricts and counts what fired: alerts of the chosen rules whose period ends within ``start`` ..
``end``, per calendar year of the period's end, with every year of the span listed (zeros included).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from signal_monitor.periods import EASTERN
from signal_monitor.rules.alert import Alert


@dataclass
class Span:
    """The first and last event time seen in the inputs (epoch seconds)."""

    first: float | None = None
    last: float | None = None

    def track(self, events: Iterable[tuple[float, bytes]]) -> Iterator[tuple[float, bytes]]:
        """Yield ``events`` unchanged, noting their first and last event time (0 = unreadable, not counted)."""
        for ts, raw in events:
            if ts:
                self.first = ts if self.first is None else min(self.first, ts)
                self.last = ts if self.last is None else max(self.last, ts)
            yield ts, raw

    def days(self) -> tuple[date, date] | None:
        """Return the span as US/Eastern days, or None when nothing was read."""
        if self.first is None or self.last is None:
            return None
        first = datetime.fromtimestamp(self.first, UTC).astimezone(EASTERN).date()
        last = datetime.fromtimestamp(self.last, UTC).astimezone(EASTERN).date()
        return first, last


def until(events: Iterable[tuple[float, bytes]], end: date | None) -> Iterator[tuple[float, bytes]]:
    """Yield the events up to the end of ``end`` (US/Eastern); later ones cannot change an earlier period."""
    if end is None:
        yield from events
        return
    limit = datetime(end.year, end.month, end.day, 23, 59, 59, tzinfo=EASTERN).timestamp()
    for ts, raw in events:
        if ts <= limit:
            yield ts, raw


@dataclass
class BacktestReport:
    """The alerts of the chosen rules within the span, and their counts per rule and year."""

    rules: tuple[str, ...]
    start: date | None
    end: date | None
    alerts: list[Alert] = field(default_factory=list)
    per_year: dict[str, dict[int, int]] = field(default_factory=dict)

    @property
    def years(self) -> list[int]:
        """Return every year of the span (or of the alerts when the span is unknown), oldest first."""
        found = {a.period_end.year for a in self.alerts}
        lo = self.start.year if self.start else min(found, default=None)
        hi = self.end.year if self.end else max(found, default=None)
        if lo is None or hi is None:
            return []
        return list(range(lo, hi + 1))

    def total(self, rule: str) -> int:
        """Return how often ``rule`` fired within the span."""
        return sum(self.per_year.get(rule, {}).values())

    def as_json(self) -> dict[str, Any]:
        """Return the report as plain JSON data."""
        return {
            "from": self.start.isoformat() if self.start else None,
            "to": self.end.isoformat() if self.end else None,
            "rules": {
                rule: {
                    "total": self.total(rule),
                    "per_year": {str(y): self.per_year.get(rule, {}).get(y, 0) for y in self.years},
                }
                for rule in self.rules
            },
            "alerts": [a.model_dump(mode="json") for a in self.alerts],
        }


def tally(
    alerts: Iterable[Alert], rules: Sequence[str], *, start: date | None = None, end: date | None = None
) -> BacktestReport:
    """Count the first alerts (no corrections) of ``rules`` whose period ends within ``start`` .. ``end``."""
    report = BacktestReport(tuple(rules), start, end)
    for alert in alerts:
        if alert.rule not in rules or alert.correction or not alert.fired:
            continue
        if (start and alert.period_end < start) or (end and alert.period_end > end):
            continue
        report.alerts.append(alert)
        years = report.per_year.setdefault(alert.rule, {})
        years[alert.period_end.year] = years.get(alert.period_end.year, 0) + 1
    report.alerts.sort(key=lambda a: (a.period_end, a.rule))
    return report
