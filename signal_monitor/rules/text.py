"""Number formatting and the default texts of alerts, written to read like the desk's note.

Money is ``$1.23B`` / ``$450M``; leverage (a fraction) is a percent (2.106 ->
``210.6%``) and its changes are points; percentiles are "97th percentile over 3
years". A rule's own message is a ``string.Template`` filled by safe
substitution from a flat dict of strings (:func:`template_fields`): no
``str.format``, no attribute access, no evaluation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from string import Template
from typing import TYPE_CHECKING, Any, Literal

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

if TYPE_CHECKING:
    from signal_monitor.rules.model import Check, Rule

Unit = Literal["money", "leverage", "ratio", "fraction", "price", "count", "number"]

METRIC_UNITS: dict[str, Unit] = {
    "long_buy": "money",
    "long_sell": "money",
    "short_sale": "money",
    "short_cover": "money",
    "net_buying": "money",
    "long_mv": "money",
    "short_mv": "money",
    "nav": "money",
    "gross_leverage": "leverage",
    "net_leverage": "leverage",
    "ls_flow_ratio": "ratio",
    "ls_ratio": "ratio",
    "return": "fraction",
    "close": "price",
    "trades": "count",
    "obs": "number",
}

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
    "long_mv": "long market value",
    "short_mv": "short market value",
    "nav": "NAV",
    "close": "close",
    "return": "return",
    "obs": "value",
}

#: Readable names of enumerated scope values; other values (sectors, symbols, series) print as they are.
VALUE_LABELS: dict[str, str] = {
    "hedge_fund": "hedge funds",
    "long_only": "long-only funds",
    "single_stock": "single stocks",
    "etf": "ETFs",
    "index": "index products",
    "fundamental_long_short": "fundamental long/short funds",
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

#: Placeholders every message template may use, besides the scope's dimensions and the kinds' context keys.
BASE_FIELDS: frozenset[str] = frozenset(
    {"rule", "description", "severity", "period", "period_start", "period_end", "scope"}
    | {"value", "threshold", "text", "held"}
)


# --- numbers --------------------------------------------------------------------


def _trim(text: str) -> str:
    """Drop trailing zeros after a decimal point (``23.0`` -> ``23``)."""
    return text.rstrip("0").rstrip(".") if "." in text else text


def fmt_money(x: float) -> str:
    """Format dollars: ``$2.41B``, ``$450M``, ``$12.3M``, ``$12K``, ``-$3.00B``."""
    sign = "-" if x < 0 else ""
    a = abs(x)
    if a >= 999.5e9:
        body = f"{a / 1e12:.2f}T"
    elif a >= 999.5e6:
        body = f"{a / 1e9:.2f}B"
    elif a >= 99.95e6:
        body = f"{a / 1e6:.0f}M"
    elif a >= 999.5e3:
        body = f"{a / 1e6:.1f}M"
    elif a >= 999.5:
        body = f"{a / 1e3:.0f}K"
    else:
        body = f"{a:.0f}"
    return f"{sign}${body}"


def fmt_percent(fraction: float, decimals: int = 1) -> str:
    """Format a fraction as a percent: 2.106 -> ``210.6%``, 0.23 -> ``23%``."""
    return f"{_trim(f'{fraction * 100:.{decimals}f}')}%"


def fmt_points(diff: float) -> str:
    """Format a difference of fractions as percentage points, unsigned: -0.025 -> ``2.5 points``."""
    text = _trim(f"{abs(diff) * 100:.1f}")
    return f"{text} point" if text == "1" else f"{text} points"


def fmt_ratio(x: float) -> str:
    """Format a ratio with two decimals: ``3.83``."""
    return f"{x:.2f}"


def fmt_price(x: float) -> str:
    """Format a price: ``16.77``, ``21,500.00``."""
    return f"{x:,.2f}"


def fmt_number(x: float) -> str:
    """Format a plain number: thousands separators above 1,000, four significant digits below."""
    if abs(x) >= 1000 or x == int(x):
        return f"{x:,.0f}"
    return f"{x:.4g}"


def ordinal(n: int) -> str:
    """Return ``1st``, ``2nd``, ``3rd``, ``4th``, ``11th``, ``21st``, ``112th``."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def fmt_window(window: str) -> str:
    """Format a window spec: ``3y`` -> ``3 years``, ``1y`` -> ``1 year``, ``26w`` -> ``26 weeks``."""
    n, unit = int(window[:-1]), {"y": "year", "w": "week", "d": "day"}[window[-1]]
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def fmt_percentile(pct: float, window: str) -> str:
    """Return ``97th percentile over 3 years`` (the rank rounded to a whole percentile)."""
    return f"{ordinal(round(pct))} percentile over {fmt_window(window)}"


def fmt_value(metric: str, x: float) -> str:
    """Format a value of ``metric`` in its unit."""
    unit = METRIC_UNITS.get(metric, "number")
    if unit == "money":
        return fmt_money(x)
    if unit in ("leverage", "fraction"):
        return fmt_percent(x)
    if unit == "ratio":
        return fmt_ratio(x)
    if unit == "price":
        return fmt_price(x)
    return fmt_number(x)


def fmt_level(metric: str, x: float) -> str:
    """Format a threshold of ``metric``: like a value, without trailing zeros for prices and ratios."""
    if METRIC_UNITS.get(metric, "number") in ("ratio", "price"):
        return _trim(f"{x:.4f}")
    return fmt_value(metric, x)


def fmt_change(metric: str, change: float, change_pct: float | None) -> str:
    """Format a signed period-over-period change: points for leverage and returns, percent otherwise."""
    sign = "+" if change >= 0 else "-"
    unit = METRIC_UNITS.get(metric, "number")
    if unit in ("leverage", "fraction"):
        return f"{sign}{fmt_points(change)}"
    if change_pct is not None:
        return f"{sign}{fmt_percent(abs(change_pct))}"
    return f"{sign}{fmt_value(metric, abs(change))}"


def periods_text(n: int, granularity: Granularity) -> str:
    """Return ``1 week``, ``32 weeks``, ``73 trading days``."""
    unit = "week" if granularity == "week" else "trading day"
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


# --- scopes ---------------------------------------------------------------------


def _capitalize(text: str) -> str:
    """Upper-case the first letter only."""
    return text[:1].upper() + text[1:]


def scope_subject(scope: Mapping[str, str], *, capital: bool = True) -> str:
    """Return what an alert is about: the scope's values other than the fund type, else the fund type.

    ``{fund_type: hedge_fund, sector: Industrials}`` -> ``Industrials``;
    ``{fund_type: hedge_fund}`` -> ``Hedge funds``; wildcards are left out.
    """
    named = [VALUE_LABELS.get(v, v) for k, v in sorted(scope.items()) if k != "fund_type" and v != "*"]
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


def _when(period: date, granularity: Granularity) -> str:
    """Return ``this week`` or ``on 2025-06-06``."""
    return "this week" if granularity == "week" else f"on {period.isoformat()}"


def _head(metric: str, scope: Mapping[str, str], value: float, period: date, granularity: Granularity) -> str:
    """Return the opening of a sentence: ``Industrials: hedge-fund net buying of $2.41B this week``."""
    subject = scope_subject(scope)
    when = _when(period, granularity)
    if metric == "close":
        return f"{subject} closed at {fmt_value(metric, value)} {when}"
    label = METRIC_LABELS.get(metric, metric)
    return f"{subject}: {_qualifier(scope)}{label} of {fmt_value(metric, value)} {when}"


def _condition(condition: str, level: float, metric: str) -> str:
    """Return ``positive``, ``up``, ``at or above 2%``."""
    if condition == "rising":
        return "up"
    if condition == "falling":
        return "down"
    if level == 0 and condition in ("gt", "lt"):
        return "positive" if condition == "gt" else "negative"
    return f"{OP_WORDS[condition]} {fmt_level(metric, level)}"


def _ref_label(ref: SeriesRef, scope: Mapping[str, str]) -> str:
    """Return the name of a pair kind's second series: its label, its metric, else its scope's subject."""
    if ref.label:
        return ref.label
    merged = {**scope, **{k: " and ".join(v) if isinstance(v, list) else v for k, v in ref.scope.items()}}
    if ref.metric and merged == dict(scope):
        return METRIC_LABELS.get(ref.metric, ref.metric)
    return scope_subject(merged, capital=False)


# --- phrases per kind -------------------------------------------------------------


def _phrase(check: Check, f: Finding, scope: Mapping[str, str], period: date, g: Granularity) -> tuple[str, str]:
    """Return (head, phrase) of a fired condition; an empty head means the phrase is a whole sentence."""
    p, c, m = check.params, f.context, check.metric
    head = _head(m, scope, f.value if f.value is not None else 0.0, period, g)
    unit = "week" if g == "week" else "trading day"
    if isinstance(p, StreakParams):
        text = f"{_condition(p.condition, p.level, m)} for the {ordinal(c['streak'])} consecutive {unit}"
        if c.get("change") is not None and p.condition in ("rising", "falling"):
            text += f" ({fmt_change(m, c['change'], c['change_pct'])} this {'week' if g == 'week' else 'day'}"
            text += f", {fmt_change(m, c['run_change'], None)} over the streak)" if c["streak"] > 1 else ")"
        return head, text
    if isinstance(p, LevelHeldParams):
        return head, f"{_condition(p.op, p.level, m)} for {periods_text(c['held'], g)} (since {c['since']})"
    if isinstance(p, StreakEndParams):
        return head, _streak_end_phrase(p, c, m, g)
    if isinstance(p, ThresholdCrossParams):
        side = f"{p.direction} {fmt_level(m, p.level)}"
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
            span += f"; previous {'high' if p.side == 'high' else 'low'} {fmt_value(m, f.threshold)}"
        return head, f"a record: the {word} in the stored history ({span})"
    if isinstance(p, LargestChangeParams):
        word, move = ("decline", "down") if p.direction == "decline" else ("rise", "up")
        amount = fmt_change(m, c["change"], c["change_pct"])[1:]
        one = "one-week" if g == "week" else "one-day"
        span = periods_text(c["periods_ago"], g)
        since = f"since {c['since']} ({span})" if c["since"] else f"in the stored history ({span})"
        return head, f"{move} {amount} from {fmt_value(m, c['previous'])}, the largest {one} {word} {since}"
    if isinstance(p, DistanceParams):
        high = p.side == "high"
        window = fmt_window(c["window"]).replace(" ", "-").removesuffix("s")
        return head, (
            f"{fmt_percent(c['distance'])} {'below' if high else 'above'} its {'high' if high else 'low'} of "
            f"{fmt_value(m, c['extreme'])} ({c['extreme_date']}) and {fmt_percent(c['move'])} "
            f"{'above' if high else 'below'} its {window} {'low' if high else 'high'} of "
            f"{fmt_value(m, c['base'])} ({c['base_date']})"
        )
    if isinstance(p, DivergenceParams):
        how = f"within ±{fmt_value(m, p.band)}" if c["relation"] == "flat" else "of opposite sign"
        return head, f"while {_ref_label(p.other, scope)} were at {fmt_value(m, c['other'])} ({how})"
    return "", _sentence(check, f, scope, period, g)


def _streak_end_phrase(p: StreakEndParams, c: Mapping[str, Any], m: str, g: Granularity) -> str:
    """Return ``up 0.2% after 3 weeks down`` or ``no longer positive after 5 weeks``."""
    cond = _condition(p.condition, p.level, m)
    ended = periods_text(c["ended_streak"], g)
    if p.condition not in ("rising", "falling") or c.get("change") is None:
        return f"no longer {cond} after {ended}"
    if not c["change"]:
        return f"unchanged after {ended} {cond}"
    move = "up" if c["change"] > 0 else "down"
    return f"{move} {fmt_change(m, c['change'], c['change_pct'])[1:]} after {ended} {cond}"


def _sentence(check: Check, f: Finding, scope: Mapping[str, str], period: date, g: Granularity) -> str:
    """Return the whole sentence of a kind whose value is not the metric's (ratio, spread, share, breadth)."""
    p, c, m = check.params, f.context, check.metric
    subject, qual, when = scope_subject(scope), _qualifier(scope), _when(period, g)
    label = METRIC_LABELS.get(m, m)
    value = f.value if f.value is not None else 0.0
    if isinstance(p, RatioParams):
        verb = "outpaced" if value >= 1 else "trailed"
        return (
            f"{subject}: {qual}{label} {verb} {_ref_label(p.denominator, scope)} {value:.1f} to 1 {when} "
            f"({fmt_value(m, c['numerator'])} vs {fmt_value(p.denominator.metric or m, c['denominator'])})"
        )
    if isinstance(p, SpreadParams):
        verb = "lagging" if value < 0 else "leading"
        return (
            f"{subject}: {qual}{label} of {fmt_value(m, c['left'])} {when}, {verb} "
            f"{_ref_label(p.minus, scope)} ({fmt_value(m, c['right'])}) by {fmt_value(m, abs(value))}"
        )
    if isinstance(p, ShareParams):
        text = (
            f"{subject}: {_ref_label(p.part, scope)} were {fmt_percent(c['share'])} of {qual}{label} {when} "
            f"(the rest {fmt_percent(c['rest'])})"
        )
        if c["move"] is not None:
            move = "up" if c["move"] > 0 else "down"
            text += f", {move} {fmt_points(c['move'])} from {fmt_percent(c['previous_share'])}"
        return text
    if not isinstance(p, BreadthParams):
        return f"{subject}: {check.name} held {when} (value {fmt_number(value)})"
    dim = next((k for k, v in scope.items() if v == "*"), "")
    leaders = ", ".join(f"{n} ({fmt_value(m, v)})" for n, v in c["leaders"][: p.top])
    laggards = ", ".join(f"{n} ({fmt_value(m, v)})" for n, v in c["laggards"][: p.top])
    text = (
        f"{subject}: {qual}{label} {_condition(p.condition, p.level, m)} in {c['count']} of {c['of']} "
        f"{DIMENSION_PLURALS.get(dim, dim)} {when}"
    )
    if leaders:
        text += f"; led by {leaders}"
    if laggards:
        text += f"; lagging: {laggards}"
    return text


def _report_phrase(check: Check, f: Finding) -> str | None:
    """Return the phrase of a reported figure, or None when it has no value this period."""
    if check.kind == "percentile":
        if f.context.get("percentile") is None:
            return None
        return fmt_percentile(f.context["percentile"], f.context["window"])
    if f.value is None:
        return None
    if check.metric == "ls_flow_ratio":
        verb = "outpaced" if f.value >= 1 else "trailed"
        return f"long buys {verb} short sales {f.value:.1f} to 1"
    label = METRIC_LABELS.get(check.metric, check.metric)
    return f"{label} {fmt_value(check.metric, f.value)}"


def describe(
    scope: Mapping[str, str],
    period: date,
    granularity: Granularity,
    conditions: Sequence[tuple[Check, Finding]],
    reports: Sequence[tuple[Check, Finding]],
) -> str:
    """Return the default text of an alert from its fired conditions and reported figures.

    Phrases about the same metric share one opening ("... this week, at the 86th
    percentile over 5 years and the highest since ..."); reported figures follow
    the last sentence after a semicolon.
    """
    sentences: list[list[str]] = []
    last_head = None
    for check, f in conditions:
        head, phrase = _phrase(check, f, scope, period, granularity)
        if head and head == last_head:
            sentences[-1].append(phrase)
        else:
            sentences.append([head, phrase])
        last_head = head or None
    texts = [f"{s[0]}, {' and '.join(s[1:])}" if s[0] else s[1] for s in sentences]
    extras = [x for check, f in reports if (x := _report_phrase(check, f))]
    if extras and texts:
        texts[-1] += "; " + "; ".join(extras)
    return " ".join(f"{t}." for t in texts)


def correction_text(
    rule_id: str, scope: Mapping[str, str], period: date, granularity: Granularity, text: str | None
) -> str:
    """Return the text of a correction: the new text, or a withdrawal when the condition no longer holds."""
    if text:
        return f"Correction after late data: {text}"
    when = "the week ending" if granularity == "week" else "the day"
    subject = scope_subject(scope)
    return f"Correction after late data: {rule_id} no longer holds for {subject} in {when} {period.isoformat()}."


# --- templates --------------------------------------------------------------------


def _fmt_context(fmt: Fmt, metric: str, other_metric: str, value: Any) -> str:
    """Format one context value for a template."""
    if value is None:
        return "n/a"
    if fmt == "value":
        return fmt_value(metric, value)
    if fmt == "other":
        return fmt_value(other_metric, value)
    if fmt == "change":
        return fmt_change(metric, value, None)
    if fmt == "fraction":
        return fmt_percent(value)
    if fmt == "points":
        return fmt_points(value)
    if fmt == "percentile":
        return ordinal(round(value))
    if fmt == "ratio":
        return fmt_ratio(value)
    if fmt == "count":
        return f"{value:,.0f}"
    if fmt == "window":
        return fmt_window(value)
    if fmt == "flag":
        return "yes" if value else "no"
    if fmt == "list":
        return ", ".join(f"{n} ({fmt_value(metric, v)})" for n, v in value)
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
) -> dict[str, str]:
    """Return the flat dict a message template is filled from: the alert's fields, scope and context, as text.

    Context keys come from ``parts`` in order (the first one to report a key wins);
    a ``value`` check's figure is filed under the check's name; a key without a
    value this period reads ``n/a``.
    """
    start, end = period_bounds(period, rule.period)
    lead = KINDS[parts[0][0].kind] if parts else KINDS["value"]
    metric = parts[0][0].metric if parts else rule.metric
    value_text = _fmt_context(lead.value_fmt, metric, metric, value)
    if threshold is not None and lead.threshold_fmt == "value":
        threshold_text = fmt_level(metric, threshold)
    else:
        threshold_text = _fmt_context(lead.threshold_fmt, metric, metric, threshold)
    fields = {
        "rule": rule.id,
        "description": rule.description,
        "severity": rule.severity,
        "period": period.isoformat(),
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
        "scope": scope_subject(scope),
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
        for key, fmt in spec.context.items():
            name = check.name if check.kind == "value" else key
            if name not in fields:
                fields[name] = _fmt_context(fmt, check.metric, other_metric, f.context.get(key))
    return fields


def render(template: str, fields: Mapping[str, str]) -> str:
    """Fill a message template by safe substitution (unknown placeholders stay as written)."""
    return Template(template).safe_substitute(fields)
