"""The chart of an alert: the series its rule read around the period, the threshold or band, the fired point.

:func:`chart_data` reads the points from the state store, as the rule engine does
(:func:`signal_monitor.rules.engine.series_points`), and runs the rule's lead check at the period
once more (kinds are pure) for the figures a chart draws:

* the series: the lead check's metric over the alert's scope; for a pair kind the value it tests
  (``ratio``: a / b, ``spread``: a - b, ``share``: part / total, ``divergence``: a), point by point;
* levels, horizontal lines: a crossing's level and re-arm level, a streak's or a held level, a
  ratio's or a spread's level, the value an "highest since" ran up to, a distance's bound;
* a band for a ``percentile`` check: per point, the values at its bound(s) over its trailing window
  (a value at or above the upper edge, at or below the lower one, is at the percentile that fires);
* the fired point, and markers: the fired point and any other alert of the rule and scope shown.

The shown points are the ``before`` periods up to the period (more when an "since" date of the
alert lies further back, up to ``MAX_BEFORE``) and up to ``after`` periods after it when they exist.
A rule over a group of scopes (``breadth``) has no chart: :class:`NoChart`.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from signal_monitor.format import Unit, fmt_percent, fmt_period, fmt_unit, fmt_unit_level, fmt_window, ordinal
from signal_monitor.periods import Granularity
from signal_monitor.rules.alert import Alert
from signal_monitor.rules.engine import series_points, value_unit
from signal_monitor.rules.kinds import KINDS, Finding, Inputs, SeriesRef, window_start
from signal_monitor.rules.model import Check, Rule, RuleSet
from signal_monitor.series import series_id
from signal_monitor.state.base import Point, State

#: Periods shown before the alert's period, and after it when they exist.
BEFORE = {"week": 26, "day": 60}
AFTER = {"week": 4, "day": 10}
#: Most periods shown before the period when the alert's "since" date lies further back.
MAX_BEFORE = {"week": 260, "day": 260}


class NoChart(LookupError):
    """An alert (or rule) that has no chart: its rule is not in the rule set, or runs over a group of scopes."""


@dataclass(frozen=True)
class Level:
    """A horizontal line: a level the rule compared the value with."""

    value: float
    label: str


@dataclass(frozen=True)
class BandPoint:
    """The band at one period: the value at the lower and the upper bound (None: that bound is not set)."""

    period: date
    low: float | None
    high: float | None


@dataclass(frozen=True)
class Marker:
    """An alert on the series: its period, the series' value there and what it was."""

    period: date
    value: float
    label: str
    current: bool = False  #: the alert the chart is of


@dataclass
class ChartData:
    """What a chart of an alert draws, in the unit of the plotted value."""

    rule: str
    title: str
    series: str  #: what the line is: a series id, or ``a / b`` for a ratio
    scope: dict[str, str]
    granularity: Granularity
    period: date
    unit: Unit
    points: list[Point] = field(default_factory=list)
    fired: Point | None = None
    levels: list[Level] = field(default_factory=list)
    band: list[BandPoint] = field(default_factory=list)
    band_label: str = ""
    markers: list[Marker] = field(default_factory=list)

    def value_text(self, value: float) -> str:
        """Format a value of the chart (signal_monitor.format, in the chart's unit)."""
        return fmt_unit(self.unit, value)

    def period_text(self, period: date) -> str:
        """Name a period of the chart: ``week ending 2025-06-06`` or ``2025-06-06``."""
        return fmt_period(period, self.granularity)

    @property
    def scope_text(self) -> str:
        """Return the scope as ``k=v, k=v`` (``all`` when empty)."""
        return ", ".join(f"{k}={v}" for k, v in sorted(self.scope.items())) or "all"

    def to_json(self) -> dict[str, Any]:
        """Return the chart as JSON data, every figure with its formatted text beside it."""

        def point(day: date, value: float) -> dict[str, Any]:
            return {"period": day.isoformat(), "period_text": self.period_text(day), "value": value,
                    "text": self.value_text(value)}

        def edge(value: float | None) -> str | None:
            return None if value is None else self.value_text(value)

        return {
            "rule": self.rule,
            "title": self.title,
            "series": self.series,
            "scope": self.scope,
            "scope_text": self.scope_text,
            "granularity": self.granularity,
            "period": self.period.isoformat(),
            "period_text": self.period_text(self.period),
            "unit": self.unit,
            "points": [point(d, v) for d, v in self.points],
            "fired": point(*self.fired) if self.fired else None,
            "levels": [{"value": lv.value, "text": fmt_unit_level(self.unit, lv.value), "label": lv.label}
                       for lv in self.levels],
            "band": {"label": self.band_label,
                     "points": [{"period": b.period.isoformat(), "low": b.low, "high": b.high,
                                 "low_text": edge(b.low), "high_text": edge(b.high)} for b in self.band]},
            "markers": [{**point(m.period, m.value), "label": m.label, "current": m.current} for m in self.markers],
        }


# --- the series of a check -------------------------------------------------------------------------


def _ref_scope(scope: Mapping[str, str], ref: SeriesRef) -> dict[str, str | list[str]]:
    return {**scope, **ref.scope}


def _derived(kind: str, a: Sequence[Point], b: Sequence[Point]) -> list[Point]:
    """Return the tested value of a pair kind at each period both series have."""
    other = dict(b)
    out: list[Point] = []
    for day, x in a:
        y = other.get(day)
        if y is None:
            continue
        if kind == "ratio" and y != 0:
            out.append((day, x / y))
        elif kind == "spread":
            out.append((day, x - y))
        elif kind == "share" and x != 0:
            out.append((day, y / x))
    return out


async def _check_series(
    state: State, rule: Rule, check: Check, scope: Mapping[str, str]
) -> tuple[list[Point], list[Point]]:
    """Return the check's own points and its second series' (empty for a single-series kind)."""
    spec = KINDS[check.kind]
    points = await series_points(state, check.metric, rule.period, scope)
    other: list[Point] = []
    if spec.ref:
        ref: SeriesRef = getattr(check.params, spec.ref)
        other = await series_points(state, ref.metric or check.metric, rule.period, _ref_scope(scope, ref))
    return points, other


def _upto(points: Sequence[Point], period: date) -> list[Point]:
    return list(points[: bisect.bisect_right(points, period, key=lambda p: p[0])])


def _finding(rule: Rule, check: Check, period: date, points: Sequence[Point], other: Sequence[Point]) -> Finding:
    inputs = Inputs(period, rule.period, _upto(points, period), _upto(other, period))
    return KINDS[check.kind].fn(inputs, check.params, {})


# --- levels and bands ---------------------------------------------------------------------------


def _levels(check: Check, finding: Finding, unit: Unit) -> list[Level]:
    """Return the horizontal lines of a check: the levels its value was compared with."""
    p, kind = check.params, check.kind
    if kind == "threshold_cross":
        out = [Level(float(p.level), f"{p.direction} {fmt_unit_level(unit, p.level)}")]
        if p.rearm != p.level:
            out.append(Level(float(p.rearm), f"re-arms at {fmt_unit_level(unit, p.rearm)}"))
        return out
    if kind in ("streak", "streak_end"):
        if p.condition in ("rising", "falling"):
            return []
        return [Level(float(p.level), f"level {fmt_unit_level(unit, p.level)}")]
    if kind in ("level_held", "ratio", "spread", "divergence"):
        return [Level(float(p.level), f"level {fmt_unit_level(unit, p.level)}")]
    if kind == "extreme" and finding.threshold is not None:
        since = finding.context.get("since")
        word = "high" if p.side == "high" else "low"
        label = f"previous {word} ({since})" if since else f"previous record {word}"
        return [Level(float(finding.threshold), label)]
    if kind == "distance_from_extreme" and finding.threshold is not None:
        word = "below the high" if p.side == "high" else "above the low"
        return [Level(float(finding.threshold), f"{fmt_percent(p.within)} {word}")]
    return []


def _rank_edges(window: Sequence[float], upper: float | None, lower: float | None) -> tuple[float | None, float | None]:
    """Return the values of a window at its lower and upper percentile bound, as the percentile kind ranks.

    The kind's rank of a value is 100 x (values <= it) / n: at or above ``upper`` from the k-th smallest
    value on, k = ceil(upper x n / 100); at or below ``lower`` up to the k-th smallest, k = floor(lower x n / 100).
    """
    ordered = sorted(window)
    n = len(ordered)
    high = low = None
    if upper is not None:
        high = ordered[min(n, max(1, math.ceil(upper * n / 100 - 1e-9))) - 1]
    if lower is not None:
        low = ordered[max(1, math.floor(lower * n / 100 + 1e-9)) - 1]
    return low, high


def _band(check: Check, points: Sequence[Point], shown: Sequence[Point]) -> tuple[list[BandPoint], str]:
    """Return the percentile band over the shown points (each over its trailing window) and its label."""
    if check.kind != "percentile":
        return [], ""
    p = check.params
    if p.upper is None and p.lower is None:
        return [], ""
    days = [d for d, _ in points]
    band: list[BandPoint] = []
    for day, _ in shown:
        end = bisect.bisect_right(days, day)
        start = bisect.bisect_right(days, window_start(day, p.window))
        if end - start < p.min_points:
            continue
        low, high = _rank_edges([v for _, v in points[start:end]], p.upper, p.lower)
        band.append(BandPoint(day, low, high))
    bounds = [ordinal(round(b)) for b in (p.lower, p.upper) if b is not None]
    return band, f"{'–'.join(bounds)} percentile over {fmt_window(p.window)}"


# --- the chart -----------------------------------------------------------------------------------


def _lead(rule: Rule, findings: Sequence[tuple[Check, Finding]]) -> tuple[Check, Finding]:
    """Return the check whose value an alert carries: the first that fired (the first check when none did)."""
    for check, finding in findings:
        if finding.fired:
            return check, finding
    return findings[0]


def _window(points: Sequence[Point], period: date, granularity: Granularity, *, before: int, after: int,
            since: date | None) -> list[Point]:
    end = bisect.bisect_right(points, period, key=lambda p: p[0])
    start = max(0, end - 1 - before)
    if since is not None:
        j = bisect.bisect_left(points, since, key=lambda p: p[0])
        start = min(start, max(j - 1, end - 1 - MAX_BEFORE[granularity], 0))
    return list(points[start : end + after])


def _since(finding: Finding) -> date | None:
    for key in ("since", "streak_since", "extreme_date", "base_date"):
        value = finding.context.get(key)
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                return None
    return None


async def chart_data(
    state: State,
    rule: Rule,
    scope: Mapping[str, str],
    period: date,
    *,
    before: int | None = None,
    after: int | None = None,
    others: Sequence[date] = (),
) -> ChartData:
    """Return the chart of ``rule`` for ``scope`` at ``period``, read from ``state``.

    ``others``: periods of other alerts of the rule and scope, marked where the chart shows them.
    Raises :class:`NoChart` for a rule over a group of scopes.
    """
    if rule.grouped:
        raise NoChart(f"rule {rule.id} runs over a group of scopes ({rule.checks[0].kind}): it has no chart")
    scope = dict(scope)
    g = rule.period
    read = [(check, *await _check_series(state, rule, check, scope)) for check in rule.checks]
    findings = [(check, _finding(rule, check, period, pts, other)) for check, pts, other in read]
    lead, finding = _lead(rule, findings)
    _, points, other = next(r for r in read if r[0] is lead)
    spec = KINDS[lead.kind]
    if spec.ref and lead.kind != "divergence":
        ref: SeriesRef = getattr(lead.params, spec.ref)
        line = _derived(lead.kind, points, other)
        other_metric = ref.metric or lead.metric
        label = ref.label or other_metric
        series = f"{lead.metric} / {other_metric}" if lead.kind == "ratio" else (
            f"{lead.metric} - {other_metric}" if lead.kind == "spread" else f"share of {label}")
    else:
        line = points
        series = series_id(lead.metric, g, scope)
    unit = value_unit(rule, scope, lead)
    shown = _window(line, period, g, before=BEFORE[g] if before is None else before,
                    after=AFTER[g] if after is None else after, since=_since(finding))
    values = dict(shown)
    fired = (period, values[period]) if period in values else None
    band, band_label = _band(lead, line, shown)
    markers = [Marker(d, values[d], f"alert {fmt_period(d, g)}") for d in sorted(set(others) - {period}) if d in values]
    if fired is not None:
        markers.append(Marker(period, fired[1], f"fired {fmt_period(period, g)}", current=True))
    return ChartData(
        rule=rule.id,
        title=rule.summary or rule.description,
        series=series,
        scope=scope,
        granularity=g,
        period=period,
        unit=unit,
        points=shown,
        fired=fired,
        levels=_levels(lead, finding, unit),
        band=band,
        band_label=band_label,
        markers=sorted(markers, key=lambda m: m.period),
    )


async def alert_chart(state: State, rules: RuleSet | None, alert: Alert | Mapping[str, Any],
                      *, others: Sequence[date] = ()) -> ChartData:
    """Return the chart of an alert (an ``Alert`` or its JSON record); :class:`NoChart` when it has none."""
    if not isinstance(alert, Alert):
        try:
            alert = Alert.model_validate(alert)
        except ValueError as exc:
            raise NoChart(f"not an alert record: {exc}") from None
    if rules is None:
        raise NoChart("no rule set is loaded (SM_RULES_ENABLED is false)")
    try:
        rule = rules.get(alert.rule)
    except KeyError:
        raise NoChart(f"rule {alert.rule} is not in the rule set") from None
    return await chart_data(state, rule, alert.scope, alert.period_end, others=others)
