"""The default texts of alerts, written to read like the desk's note.

Numbers are spelled by :mod:`signal_monitor.format` (the one formatter the Slack
fields, the console and the dashboard use too). A rule's own message is a ``string.Template`` filled by safe
substitution from a flat dict of strings (:func:`template_fields`): no
``str.format``, no attribute access, no evaluation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from string import Template
from typing import TYPE_CHECKING, Any

from signal_monitor.format import (
    Unit,
    fmt_money,
    fmt_number,
    fmt_percent,
    fmt_percentile,
    fmt_points,
    fmt_price,
    fmt_ratio,
    fmt_to_one,
    fmt_unit,
    fmt_unit_change,
    fmt_unit_level,
    fmt_window,
    ordinal,
    periods_text,
)
from signal_monitor.periods import Granularity, period_bounds
from signal_monitor.rules.kinds import (
    KINDS,
    BreadthParams,
    DistanceParams,
    DivergenceParams,
    ExtremeParams,
    Finding,
    Fmt,
    LargestChangeParams,
    LevelHeldParams,
    PercentileParams,
    RatioParams,
    SeriesRef,
    ShareParams,
    SpreadParams,
    StreakEndParams,
    StreakParams,
    ThresholdCrossParams,
)

from signal_monitor.rules.names import (  # re-exported: texts and their tests read them here too
    BASE_FIELDS,
    METRIC_UNITS,
    NO_NAMES,
    OBSERVATION_UNITS,
    VALUE_LABELS,
    DisplayNames,
    SeriesName,
)

if TYPE_CHECKING:
    from signal_monitor.rules.model import Check, Rule

METRIC_LABELS: dict[str, str] = {
    "long_buy": "long buys",
    "long_sell": "long sales",
    "short_sale": "short sales",
    "short_cover": "short covers",
    "net_buying": "net buying",
    "ls_flow_ratio": "long/short flow ratio",
    "trades": "trade count",
    "gross_leverage": "gross leverage",
    "net_leverage": "net leverage",
    "ls_ratio": "long/short ratio",
    "long_mv": "long positions",
    "short_mv": "short positions",
    "nav": "NAV",
    "close": "close",
    "return": "return",
    "obs": "value",
}

FUND_ADJECTIVES: dict[str, str] = {"hedge_fund": "hedge-fund", "long_only": "long-only"}
DIMENSION_PLURALS: dict[str, str] = {
    "sector": "sectors",
    "sub_industry": "sub-industries",
    "instrument_type": "instrument types",
    "fund_type": "fund types",
    "strategy": "strategies",
    "symbol": "symbols",
    "series": "series",
}
OP_WORDS: dict[str, str] = {"gt": "above", "ge": "at or above", "lt": "below", "le": "at or below"}


# --- numbers (signal_monitor.format) ------------------------------------------------


def fmt_value(metric: str, x: float) -> str:
    """Format a value of ``metric`` in its unit."""
    return fmt_unit(METRIC_UNITS.get(metric, "number"), x)


def fmt_level(metric: str, x: float) -> str:
    """Format a threshold of ``metric``: like a value, without trailing zeros for prices and ratios."""
    return fmt_unit_level(METRIC_UNITS.get(metric, "number"), x)


def fmt_change(metric: str, change: float, change_pct: float | None) -> str:
    """Format a signed period-over-period change of ``metric`` (see :func:`fmt_unit_change`)."""
    return fmt_unit_change(METRIC_UNITS.get(metric, "number"), change, change_pct)


# --- scopes ---------------------------------------------------------------------


def _capitalize(text: str) -> str:
    """Upper-case the first letter only."""
    return text[:1].upper() + text[1:]


def scope_subject(scope: Mapping[str, str], *, capital: bool = True, names: DisplayNames = NO_NAMES) -> str:
    """Return what an alert is about: the scope's values other than the fund type, else the fund type.

    ``{fund_type: hedge_fund, sector: Industrials}`` -> ``Industrials``;
    ``{fund_type: hedge_fund}`` -> ``Hedge funds``; wildcards are left out; symbols, baskets
    and series read by their names (``{symbol: NDX}`` -> ``The Nasdaq 100``).
    """
    named = [names.of(k, v) for k, v in sorted(scope.items()) if k != "fund_type" and v != "*"]
    if not named:
        fund = scope.get("fund_type")
        named = [VALUE_LABELS.get(fund, fund)] if fund and fund != "*" else ["all funds"]
    text = ", ".join(named)
    return _capitalize(text) if capital else text


def _qualifier(scope: Mapping[str, str]) -> str:
    """Return the fund-type adjective when the subject is something else: ``hedge-fund ``."""
    fund = scope.get("fund_type")
    others = [k for k, v in scope.items() if k != "fund_type" and v != "*"]
    if fund and others:
        return FUND_ADJECTIVES.get(fund, VALUE_LABELS.get(fund, fund)) + " "
    return ""


def _when(period: date, granularity: Granularity, current: bool = True) -> str:
    """Return how a period reads: ``this week`` (the current week), ``in the week ending 2025-06-06``, ``on 2025-06-06``.

    A day is always named by its date. A week is "this week" only while it is the current week
    (``current``); a past week (a replay, a backtest, a correction, a close caught up late) is named.
    """
    if granularity != "week":
        return f"on {period.isoformat()}"
    return "this week" if current else f"in the week ending {period.isoformat()}"


@dataclass(frozen=True)
class _Say:
    """What every phrase of one alert shares: its scope, period, names and how its period reads."""

    scope: Mapping[str, str]
    period: date
    g: Granularity
    names: DisplayNames
    when: str

    def unit(self, metric: str, scope: Mapping[str, Any] | None = None) -> Unit:
        return self.names.unit(metric, self.scope if scope is None else scope)

    def value(self, metric: str, x: float, scope: Mapping[str, Any] | None = None) -> str:
        return fmt_unit(self.unit(metric, scope), x)

    def level(self, metric: str, x: float) -> str:
        return fmt_unit_level(self.unit(metric), x)

    def change(self, metric: str, change: float, change_pct: float | None) -> str:
        return fmt_unit_change(self.unit(metric), change, change_pct)

    def difference(self, metric: str, x: float) -> str:
        """Format an unsigned difference of two values: points for fractions, the unit otherwise."""
        if self.unit(metric) in ("leverage", "fraction"):
            return fmt_points(x)
        return fmt_unit(self.unit(metric), abs(x))

    def subject(self, *, capital: bool = True) -> str:
        return scope_subject(self.scope, capital=capital, names=self.names)

    def head(self, metric: str, value: float) -> str:
        """Return the opening of a sentence: ``Industrials: hedge-fund net buying of $2.41B this week``."""
        subject, when = self.subject(), self.when
        if metric == "close":
            return f"{subject} closed at {self.value(metric, value)} {when}"
        if metric == "obs":
            return f"{subject} at {self.value(metric, value)} {when}"
        if metric == "return" and not _qualifier(self.scope):
            if not value:
                return f"{subject} was flat {when}"
            return f"{subject} {'gained' if value > 0 else 'lost'} {fmt_percent(abs(value))} {when}"
        label = METRIC_LABELS.get(metric, metric)
        return f"{subject}: {_qualifier(self.scope)}{label} of {self.value(metric, value)} {when}"

    def condition(self, condition: str, level: float, metric: str) -> str:
        """Return ``positive``, ``up``, ``at or above 2%``."""
        if condition == "rising":
            return "up"
        if condition == "falling":
            return "down"
        if level == 0 and condition in ("gt", "lt"):
            return "positive" if condition == "gt" else "negative"
        return f"{OP_WORDS[condition]} {self.level(metric, level)}"

    def ref_label(self, ref: SeriesRef) -> str:
        """Return the name of a pair kind's second series: its label, its metric, else its scope's subject."""
        if ref.label:
            return ref.label
        scope = self.scope
        merged = {**scope, **{k: " and ".join(v) if isinstance(v, list) else v for k, v in ref.scope.items()}}
        if ref.metric and merged == dict(scope):
            return METRIC_LABELS.get(ref.metric, ref.metric)
        return scope_subject(merged, capital=False, names=self.names)


# --- phrases per kind -------------------------------------------------------------


def _phrase(check: Check, f: Finding, say: _Say) -> tuple[str, str]:
    """Return (head, phrase) of a fired condition; an empty head means the phrase is a whole sentence."""
    p, c, m, g = check.params, f.context, check.metric, say.g
    head = say.head(m, f.value if f.value is not None else 0.0)
    unit = "week" if g == "week" else "trading day"
    if isinstance(p, StreakParams):
        text = f"{say.condition(p.condition, p.level, m)} for the {ordinal(c['streak'])} consecutive {unit}"
        if c.get("change") is not None and p.condition in ("rising", "falling"):
            text += f" ({say.change(m, c['change'], c['change_pct'])} on the {'week' if g == 'week' else 'day'}"
            text += f", {say.change(m, c['run_change'], None)} over the streak)" if c["streak"] > 1 else ")"
        return head, text
    if isinstance(p, LevelHeldParams):
        return head, f"{say.condition(p.op, p.level, m)} for {periods_text(c['held'], g)} (since {c['since']})"
    if isinstance(p, StreakEndParams):
        return head, _streak_end_phrase(p, c, m, say)
    if isinstance(p, ThresholdCrossParams):
        side = f"{p.direction} {say.level(m, p.level)}"
        if c["since"]:
            return head, f"{side} for the first time since {c['since']}"
        return head, f"{side} for the first time in the stored history"
    if isinstance(p, PercentileParams):
        return head, f"at the {fmt_percentile(c['percentile'], c['window'])}"
    if isinstance(p, ExtremeParams):
        word = "highest" if p.side == "high" else "lowest"
        span = periods_text(c["periods_ago"], g)
        if not c["record"]:
            return head, f"the {word} since {c['since']} ({span})"
        if f.threshold is not None:
            span += f"; previous {'high' if p.side == 'high' else 'low'} {say.value(m, f.threshold)}"
        return head, f"a record: the {word} in the stored history ({span})"
    if isinstance(p, LargestChangeParams):
        word, move = ("decline", "down") if p.direction == "decline" else ("rise", "up")
        amount = say.change(m, c["change"], c["change_pct"])[1:]
        one = "one-week" if g == "week" else "one-day"
        span = periods_text(c["periods_ago"], g)
        since = f"since {c['since']} ({span})" if c["since"] else f"in the stored history ({span})"
        return head, f"{move} {amount} from {say.value(m, c['previous'])}, the largest {one} {word} {since}"
    if isinstance(p, DistanceParams):
        high = p.side == "high"
        window = fmt_window(c["window"]).replace(" ", "-").removesuffix("s")
        return head, (
            f"{fmt_percent(c['distance'])} {'below' if high else 'above'} its {'high' if high else 'low'} of "
            f"{say.value(m, c['extreme'])} ({c['extreme_date']}) and {fmt_percent(c['move'])} "
            f"{'above' if high else 'below'} its {window} {'low' if high else 'high'} of "
            f"{say.value(m, c['base'])} ({c['base_date']})"
        )
    if isinstance(p, DivergenceParams):
        how = f"within ±{say.value(m, p.band)}" if c["relation"] == "flat" else "of opposite sign"
        return head, f"while {say.ref_label(p.other)} were at {say.value(m, c['other'])} ({how})"
    return "", _sentence(check, f, say)


def _streak_end_phrase(p: StreakEndParams, c: Mapping[str, Any], m: str, say: _Say) -> str:
    """Return ``up 0.2% after 3 weeks down`` or ``no longer positive after 5 weeks``."""
    cond = say.condition(p.condition, p.level, m)
    ended = periods_text(c["ended_streak"], say.g)
    if p.condition not in ("rising", "falling") or c.get("change") is None:
        return f"no longer {cond} after {ended}"
    if not c["change"]:
        return f"unchanged after {ended} {cond}"
    move = "up" if c["change"] > 0 else "down"
    return f"{move} {say.change(m, c['change'], c['change_pct'])[1:]} after {ended} {cond}"


def _sentence(check: Check, f: Finding, say: _Say) -> str:
    """Return the whole sentence of a kind whose value is not the metric's (ratio, spread, share, breadth)."""
    p, c, m = check.params, f.context, check.metric
    subject, qual, when = say.subject(), _qualifier(say.scope), say.when
    label = METRIC_LABELS.get(m, m)
    value = f.value if f.value is not None else 0.0
    if isinstance(p, RatioParams):
        verb = "outpaced" if value >= 1 else "trailed"
        return (
            f"{subject}: {qual}{label} {verb} {say.ref_label(p.denominator)} {fmt_to_one(value)} {when} "
            f"({say.value(m, c['numerator'])} vs {say.value(p.denominator.metric or m, c['denominator'])})"
        )
    if isinstance(p, SpreadParams):
        verb = "lagging" if value < 0 else "leading"
        other = {**say.scope, **{k: v for k, v in p.minus.scope.items() if isinstance(v, str)}}
        return (
            f"{say.head(m, c['left'])}, {verb} {say.ref_label(p.minus)} "
            f"({say.value(p.minus.metric or m, c['right'], other)}) by {say.difference(m, value)}"
        )
    if isinstance(p, ShareParams):
        text = (
            f"{subject}: {say.ref_label(p.part)} were {fmt_percent(c['share'])} of {qual}{label} {when} "
            f"(the rest {fmt_percent(c['rest'])})"
        )
        if c["move"] is not None:
            move = "up" if c["move"] > 0 else "down"
            text += f", {move} {fmt_points(c['move'])} from {fmt_percent(c['previous_share'])}"
        return text
    if not isinstance(p, BreadthParams):
        return f"{subject}: {check.name} held {when} ({say.value(m, value)})"
    dim = next((k for k, v in say.scope.items() if v == "*"), "")
    leaders = ", ".join(f"{n} ({say.value(m, v)})" for n, v in c["leaders"][: p.top])
    laggards = ", ".join(f"{n} ({say.value(m, v)})" for n, v in c["laggards"][: p.top])
    text = (
        f"{subject}: {qual}{label} {say.condition(p.condition, p.level, m)} in {c['count']} of {c['of']} "
        f"{DIMENSION_PLURALS.get(dim, dim)} {when}"
    )
    if leaders:
        text += f"; led by {leaders}"
    if laggards:
        text += f"; lagging: {laggards}"
    return text


def _report_phrase(check: Check, f: Finding, say: _Say) -> str | None:
    """Return the phrase of a reported figure, or None when it has no value this period."""
    if check.kind == "percentile":
        if f.context.get("percentile") is None:
            return None
        return fmt_percentile(f.context["percentile"], f.context["window"])
    if f.value is None:
        return None
    if check.metric == "ls_flow_ratio":
        verb = "outpaced" if f.value >= 1 else "trailed"
        return f"long buys {verb} short sales {fmt_to_one(f.value)}"
    label = METRIC_LABELS.get(check.metric, check.metric)
    return f"{label} {say.value(check.metric, f.value)}"


def describe(
    scope: Mapping[str, str],
    period: date,
    granularity: Granularity,
    conditions: Sequence[tuple[Check, Finding]],
    reports: Sequence[tuple[Check, Finding]],
    *,
    names: DisplayNames = NO_NAMES,
    current: bool = True,
) -> str:
    """Return the default text of an alert from its fired conditions and reported figures.

    Phrases about the same metric share one opening ("... this week, at the 86th
    percentile over 5 years and the highest since ..."); reported figures follow
    the last sentence after a semicolon. ``current`` says whether the period is the
    current one ("this week") or a past one ("in the week ending 2025-06-06").
    """
    say = _Say(scope, period, granularity, names, _when(period, granularity, current))
    sentences: list[list[str]] = []
    last_head = None
    for check, f in conditions:
        head, phrase = _phrase(check, f, say)
        if head and head == last_head:
            sentences[-1].append(phrase)
        else:
            sentences.append([head, phrase])
        last_head = head or None
    texts = [f"{s[0]}, {' and '.join(s[1:])}" if s[0] else s[1] for s in sentences]
    extras = [x for check, f in reports if (x := _report_phrase(check, f, say))]
    if extras and texts:
        texts[-1] += "; " + "; ".join(extras)
    return " ".join(f"{t}." for t in texts)


def correction_text(
    summary: str,
    scope: Mapping[str, str],
    period: date,
    granularity: Granularity,
    text: str | None,
    *,
    names: DisplayNames = NO_NAMES,
) -> str:
    """Return the text of a correction: the new text, or a withdrawal (named by the rule's summary)."""
    if text:
        return f"Correction after late data: {text}"
    when = "the week ending" if granularity == "week" else "the day"
    subject = scope_subject(scope, names=names)
    return (
        f"Withdrawn after late data: {_capitalize(summary.rstrip('.'))} no longer holds for {subject} "
        f"in {when} {period.isoformat()}."
    )


# --- templates --------------------------------------------------------------------


def _fmt_context(fmt: Fmt, unit: Unit, other_unit: Unit, value: Any) -> str:
    """Format one context value for a template."""
    if value is None:
        return "n/a"
    if fmt == "value":
        return fmt_unit(unit, value)
    if fmt == "other":
        return fmt_unit(other_unit, value)
    if fmt == "change":
        return fmt_unit_change(unit, value, None)
    if fmt == "fraction":
        return fmt_percent(value)
    if fmt == "points":
        return fmt_points(value)
    if fmt == "percentile":
        return ordinal(round(value))
    if fmt == "ratio":
        return fmt_ratio(value)
    if fmt == "to_one":
        return fmt_to_one(value)
    if fmt == "count":
        return f"{value:,.0f}"
    if fmt == "window":
        return fmt_window(value)
    if fmt == "flag":
        return "yes" if value else "no"
    if fmt == "list":
        return ", ".join(f"{n} ({fmt_unit(unit, v)})" for n, v in value)
    if fmt == "names":
        return ", ".join(value)
    return str(value)


def template_fields(
    rule: Rule,
    scope: Mapping[str, str],
    period: date,
    value: float | None,
    threshold: float | None,
    text: str,
    parts: Sequence[tuple[Check, Finding]],
    *,
    names: DisplayNames | None = None,
) -> dict[str, str]:
    """Return the flat dict a message template is filled from: the alert's fields, scope and context, as text.

    Context keys come from ``parts`` in order (the first one to report a key wins);
    a ``value`` check's figure is filed under the check's name; a key without a
    value this period reads ``n/a``. A count (``streak``) is also given as an
    ordinal (``streak_ordinal``: ``5th``). ``names`` (the rule's, by default) gives the units.
    """
    start, end = period_bounds(period, rule.period)
    names = rule.names if names is None else names
    lead = KINDS[parts[0][0].kind] if parts else KINDS["value"]
    metric = parts[0][0].metric if parts else rule.metric
    unit = names.unit(metric, scope)
    value_text = _fmt_context(lead.value_fmt, unit, unit, value)
    if threshold is not None and lead.threshold_fmt == "value":
        threshold_text = fmt_unit_level(unit, threshold)
    else:
        threshold_text = _fmt_context(lead.threshold_fmt, unit, unit, threshold)
    fields = {
        "rule": rule.id,
        "description": rule.description,
        "severity": rule.severity,
        "period": period.isoformat(),
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
        "scope": scope_subject(scope, names=names),
        "value": value_text,
        "threshold": threshold_text,
        "text": text,
        "held": ", ".join(c.name for c, f in parts if f.fired),
        **scope,
    }
    for check, f in parts:
        spec = KINDS[check.kind]
        ref: SeriesRef | None = getattr(check.params, spec.ref) if spec.ref else None
        other_metric = (ref.metric if ref else None) or check.metric
        other_scope = {**scope, **{k: v for k, v in (ref.scope if ref else {}).items() if isinstance(v, str)}}
        units = (names.unit(check.metric, scope), names.unit(other_metric, other_scope))
        for key, fmt in spec.context.items():
            name = check.name if check.kind == "value" else key
            if name not in fields:
                fields[name] = _fmt_context(fmt, *units, f.context.get(key))
            count = f.context.get(key)
            if fmt == "count" and check.kind != "value" and f"{key}_ordinal" not in fields:
                # "a 5th week": a provisional finding's template says what the week is on track for
                fields[f"{key}_ordinal"] = ordinal(count) if isinstance(count, int) else "n/a"
    return fields


def provisional_text(rule: Rule, fields: Mapping[str, str], text: str) -> str:
    """Return the text of a provisional finding: the rule's ``provisional_message``, else ``text`` labelled.

    A finding of the running week says what the week is on track for, with its data so far.
    """
    if rule.provisional_message is not None:
        return render(rule.provisional_message, fields)
    return f"On track, with the week so far: {text}"


def render(template: str, fields: Mapping[str, str]) -> str:
    """Fill a message template by safe substitution (unknown placeholders stay as written)."""
    return Template(template).safe_substitute(fields)
