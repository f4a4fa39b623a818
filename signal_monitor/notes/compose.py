"""The week's note as data, and the composer that builds it from the week's final alerts.

A note is a headline (the sentence of its most significant claim), then the sections
of :data:`signal_monitor.notes.section.SECTIONS` that hold claims. A claim is one
alert's finding in the alert's own words (``Alert.text``, whose numbers the one
formatter wrote); the composer adds no figure of its own, so the note says nothing a
rule did not find.

What goes in: the final alerts (never a provisional one) whose period ends inside the
week (its weekly alerts and the daily alerts of its days). Each rule and scope is one
claim: of several revisions of a period's alert the highest wins (a correction
replaces what it corrects, a withdrawal removes it), and of several periods (a daily
rule that fired on two days of the week) the latest. A rule whose placement carries
earlier weeks (``note: {carry: n}``) adds its alert of up to ``n`` weeks before, for a
scope the week itself has none of.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from signal_monitor.notes.section import DEFAULT_PLACEMENT, SECTIONS, NotePlacement, SectionKey
from signal_monitor.periods import week_of
from signal_monitor.rules.alert import Alert
from signal_monitor.rules.model import RuleSet
from signal_monitor.series import scope_key

SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


class Claim(BaseModel):
    """One finding of the note: a rule's alert for one scope, in the alert's own text."""

    model_config = ConfigDict(frozen=True)

    rule: str
    scope: dict[str, str]
    granularity: str
    period_end: date
    severity: str
    rank: int
    text: str
    summary: str = ""
    dedup_key: str
    revision: int = 1
    figures: dict[str, str] = Field(default_factory=dict)
    carried: bool = Field(default=False, description="From a week before the note's (a placement's ``carry``).")


class Section(BaseModel):
    """A heading and its claims, most significant first."""

    model_config = ConfigDict(frozen=True)

    key: SectionKey
    title: str
    claims: tuple[Claim, ...]


class Note(BaseModel):
    """The note of one week: its headline and its sections (only those with claims, in the note's order)."""

    model_config = ConfigDict(frozen=True)

    week: date = Field(description="The Friday that names the week.")
    headline: str
    sections: tuple[Section, ...] = ()
    alerts: int = Field(default=0, description="The final alerts of the week it was composed from.")
    revision: int = Field(default=1, ge=1, description="1 for the first note of the week; +1 each time it changed.")
    composed_at: AwareDatetime

    @property
    def claims(self) -> list[Claim]:
        """Return every claim, section by section."""
        return [c for s in self.sections for c in s.claims]

    @property
    def title(self) -> str:
        """Return the note's title."""
        return f"Positioning note, week ending {self.week.isoformat()}"

    def digest(self) -> str:
        """Return a digest of what the note says (headline and claims' texts): a correction that leaves every
        text as it was does not change it."""
        body = {
            "week": self.week.isoformat(),
            "headline": self.headline,
            "sections": [[s.key, [[c.rule, scope_key(c.scope), c.carried, c.text] for c in s.claims]] for s in self.sections],
        }
        return hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def claim_key(alert: Alert) -> str:
    """Return the key a week's alert is kept under: rule, scope and period (revisions share it)."""
    return f"{alert.rule}|{scope_key(alert.scope)}|{alert.period_end.isoformat()}"


def in_week(alert: Alert, week: date) -> bool:
    """Return whether ``alert``'s period ends inside the week named by the Friday ``week``."""
    return week_of(alert.period_end) == week


def latest_revisions(alerts: Iterable[Alert]) -> list[Alert]:
    """Return the highest revision of each rule, scope and period (a correction replaces the alert it corrects)."""
    best: dict[str, Alert] = {}
    for alert in alerts:
        if alert.provisional:
            continue
        key = claim_key(alert)
        kept = best.get(key)
        if kept is None or alert.revision >= kept.revision:
            best[key] = alert
    return list(best.values())


def _one_per_scope(alerts: Iterable[Alert]) -> dict[tuple[str, str], Alert]:
    """Return the latest period's alert of each rule and scope, the withdrawn ones left out."""
    out: dict[tuple[str, str], Alert] = {}
    for alert in latest_revisions(alerts):
        if not alert.fired:
            continue
        key = (alert.rule, scope_key(alert.scope))
        kept = out.get(key)
        if kept is None or alert.period_end > kept.period_end:
            out[key] = alert
    return out


def placement(rules: RuleSet | None, rule_id: str) -> NotePlacement:
    """Return the note placement of ``rule_id`` (the default one for a rule the rule set no longer has)."""
    if rules is None:
        return DEFAULT_PLACEMENT
    try:
        return rules.get(rule_id).note
    except KeyError:
        return DEFAULT_PLACEMENT


def max_carry(rules: RuleSet | None) -> int:
    """Return the most weeks any rule's placement carries."""
    return max((r.note.carry for r in rules or ()), default=0)


def compose(
    week: date,
    alerts: Iterable[Alert],
    *,
    rules: RuleSet | None,
    earlier: Mapping[date, Iterable[Alert]] | None = None,
    revision: int = 1,
    now: datetime | None = None,
) -> Note:
    """Compose the note of ``week`` (a Friday) from its alerts; ``earlier``: the alerts of the weeks before it.

    Alerts outside the week, provisional ones and withdrawn ones are left out; see the module's docstring.
    """
    if week != week_of(week):
        raise ValueError(f"{week.isoformat()} is not a Friday: a week is named by its Friday")
    own = [a for a in alerts if in_week(a, week)]
    chosen = _one_per_scope(own)
    for before, past in sorted((earlier or {}).items(), reverse=True):  # the nearest week first
        weeks_ago = (week - before).days // 7
        if weeks_ago < 1:
            continue
        for key, alert in _one_per_scope(a for a in past if in_week(a, before)).items():
            if key not in chosen and placement(rules, alert.rule).carry >= weeks_ago:
                chosen[key] = alert
    by_section: dict[str, list[Claim]] = {}
    for alert in chosen.values():
        place = placement(rules, alert.rule)
        if not place.include:
            continue
        by_section.setdefault(place.section, []).append(_claim(alert, place, carried=not in_week(alert, week)))
    sections = []
    for key, title in SECTIONS.items():
        claims = sorted(by_section.get(key, []), key=_order)
        if claims:
            sections.append(Section(key=key, title=title, claims=tuple(claims)))  # type: ignore[arg-type]
    every = [c for s in sections for c in s.claims]
    top = min(every, key=lambda c: (c.carried, *_order(c)), default=None)
    headline = top.text if top is not None else f"No rule fired in the week ending {week.isoformat()}."
    return Note(
        week=week,
        headline=headline,
        sections=tuple(sections),
        alerts=len(latest_revisions(own)),
        revision=revision,
        composed_at=now or datetime.now().astimezone(),
    )


def _claim(alert: Alert, place: NotePlacement, *, carried: bool) -> Claim:
    return Claim(
        rule=alert.rule,
        scope=dict(alert.scope),
        granularity=alert.granularity,
        period_end=alert.period_end,
        severity=alert.severity,
        rank=place.rank,
        text=alert.text,
        summary=alert.summary,
        dedup_key=alert.dedup_key,
        revision=alert.revision,
        figures=dict(alert.figures),
        carried=carried,
    )


def _order(claim: Claim) -> tuple[Any, ...]:
    """Most significant first: rank, then severity, then the later period, then the scope (a stable order)."""
    return (claim.rank, SEVERITY_ORDER.get(claim.severity, 3), -claim.period_end.toordinal(), scope_key(claim.scope))


def weeks_before(week: date, n: int) -> list[date]:
    """Return the ``n`` Fridays before ``week``, nearest first."""
    return [week - timedelta(days=7 * k) for k in range(1, n + 1)]
