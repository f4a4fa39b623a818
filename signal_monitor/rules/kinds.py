"""Rule kinds: pure evaluators over the points of a series, registered by name.

A kind is a function ``(inputs, params, state) -> Finding``. ``inputs`` holds the
period being evaluated, its granularity and the points of the series it reads
(``(date, value)`` oldest first, ending at or before the period); ``state`` is the
small dict the kind returned for the previous period of the same rule and scope
(``{}`` when none: every kind must then work from the points alone). A kind does
no I/O and never mutates its arguments.

Gaps: weekly points are consecutive when their Fridays are 7 days apart; daily
series hold trading days only, so consecutive points are consecutive days. A
streak, a "for N periods" run or a period-over-period change breaks on a gap.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import islice
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from signal_monitor.periods import Granularity
from signal_monitor.state.base import Point

Op = Literal["gt", "ge", "lt", "le"]
Condition = Literal["gt", "ge", "lt", "le", "rising", "falling"]
Shape = Literal["series", "pair", "group"]
#: How a context value is formatted in texts and templates (see :mod:`signal_monitor.rules.text`).
Fmt = Literal[
    "value",
    "other",
    "change",
    "fraction",
    "points",
    "count",
    "date",
    "percentile",
    "window",
    "flag",
    "text",
    "list",
    "names",
    "ratio",
    "to_one",
]
#: A trailing window: ``3y`` (years), ``26w`` (weeks) or ``90d`` (calendar days).
Window = Annotated[str, Field(pattern=r"^[1-9][0-9]*[ywd]$")]

#: Relative tolerance of level comparisons, so a value computed as 0.15000000000000002 is "at" 0.15.
TOLERANCE = 1e-9


@dataclass(frozen=True)
class Inputs:
    """What a kind reads: the period, its granularity and the points of its series up to the period."""

    period: date
    granularity: Granularity
    points: Sequence[Point] = ()
    other: Sequence[Point] = ()  #: the second series of a pair kind
    group: Mapping[str, Sequence[Point]] = field(default_factory=dict)  #: breadth: points per scope value


@dataclass(frozen=True)
class Finding:
    """What a kind found for one period: fired or not, the tested value, its threshold, context, new state."""

    fired: bool
    value: float | None = None
    threshold: float | None = None
    context: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)


class SeriesRef(BaseModel):
    """A second series of a rule: another metric and/or a scope laid over the rule's scope.

    A list as a scope value means the sum of the series of each listed value
    (a date missing in one of them counts as 0 there).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str | None = None
    scope: dict[str, str | list[str]] = Field(default_factory=dict)
    label: str | None = None


class KindParams(BaseModel):
    """Base of the parameters of a kind; validated from the rule file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def since(self, period: date, granularity: Granularity) -> date | None:
        """Return the first period the kind reads (None: the whole stored history)."""
        return None

    def can_fire(self) -> bool:
        """Return False for parameters that only report (a check that can never fire)."""
        return True


KindFn = Callable[[Inputs, Any, Mapping[str, Any]], Finding]


@dataclass(frozen=True)
class KindSpec:
    """A registered kind: its function, its parameter model, what it reads and what it reports."""

    name: str
    fn: KindFn
    params: type[KindParams]
    context: Mapping[str, Fmt]
    shape: Shape = "series"
    ref: str | None = None  #: pair kinds: the params field holding the second series
    value_fmt: Fmt = "value"  #: how the finding's value is formatted
    threshold_fmt: Fmt = "value"  #: how the finding's threshold is formatted


KINDS: dict[str, KindSpec] = {}


def kind(
    name: str,
    params: type[KindParams],
    context: Mapping[str, Fmt],
    *,
    shape: Shape = "series",
    ref: str | None = None,
    value_fmt: Fmt = "value",
    threshold_fmt: Fmt = "value",
) -> Callable[[KindFn], KindFn]:
    """Register a kind function under ``name``."""

    def register(fn: KindFn) -> KindFn:
        KINDS[name] = KindSpec(name, fn, params, context, shape, ref, value_fmt, threshold_fmt)
        return fn

    return register


# --- helpers ------------------------------------------------------------------------


def compare(value: float, op: Op, level: float) -> bool:
    """Return whether ``value op level`` holds, with a small relative tolerance at the level."""
    tol = TOLERANCE * max(1.0, abs(level))
    if op == "gt":
        return value > level + tol
    if op == "ge":
        return value >= level - tol
    if op == "lt":
        return value < level - tol
    return value <= level + tol


def window_start(period: date, window: str) -> date:
    """Return the day before a trailing window that ends at ``period`` (the window is after it)."""
    n, unit = int(window[:-1]), window[-1]
    if unit == "y":
        try:
            return period.replace(year=period.year - n)
        except ValueError:  # 29 February
            return period.replace(year=period.year - n, day=28)
    return period - timedelta(days=n * (7 if unit == "w" else 1))


def consecutive(prev: date, cur: date, granularity: Granularity) -> bool:
    """Return whether two adjacent points of a series are consecutive periods."""
    return granularity == "day" or (cur - prev).days == 7


def current(points: Sequence[Point], period: date) -> float | None:
    """Return the value of the period when the series ends with it."""
    if points and points[-1][0] == period:
        return points[-1][1]
    return None


def value_at(points: Sequence[Point], day: date) -> float | None:
    """Return the value of ``day`` in a series, or None."""
    i = bisect.bisect_left(points, day, key=lambda p: p[0])
    if i < len(points) and points[i][0] == day:
        return points[i][1]
    return None


def periods_between(points: Sequence[Point], j: int, i: int, granularity: Granularity) -> int:
    """Return how many periods point ``j`` lies before point ``i``."""
    if granularity == "week":
        return (points[i][0] - points[j][0]).days // 7
    return i - j


def _holds(points: Sequence[Point], i: int, condition: Condition, level: float, granularity: Granularity) -> bool:
    """Return whether the condition holds at point ``i`` (rising/falling need a consecutive previous point)."""
    value = points[i][1]
    if condition == "rising" or condition == "falling":
        if i == 0 or not consecutive(points[i - 1][0], points[i][0], granularity):
            return False
        prev = points[i - 1][1]
        return value > prev if condition == "rising" else value < prev
    return compare(value, condition, level)


def _run(points: Sequence[Point], end: int, condition: Condition, level: float, granularity: Granularity) -> int:
    """Return the number of consecutive periods ending at point ``end`` in which the condition held."""
    n = 0
    i = end
    while i >= 0 and _holds(points, i, condition, level, granularity):
        n += 1
        if i == 0 or not consecutive(points[i - 1][0], points[i][0], granularity):
            break
        i -= 1
    return n


def _change(points: Sequence[Point], i: int, granularity: Granularity) -> dict[str, float | None]:
    """Return the previous value and the change of point ``i`` vs the previous period (None across a gap)."""
    if i == 0 or not consecutive(points[i - 1][0], points[i][0], granularity):
        return {"previous": None, "change": None, "change_pct": None}
    prev, value = points[i - 1][1], points[i][1]
    return {"previous": prev, "change": value - prev, "change_pct": (value - prev) / abs(prev) if prev else None}


def _level(condition: Condition, level: float, change: Mapping[str, float | None]) -> float | None:
    """Return what the value was compared with: the level, or the previous value for rising/falling."""
    return change["previous"] if condition in ("rising", "falling") else level


# --- single-series kinds -----------------------------------------------------------


class StreakParams(KindParams):
    """``condition`` (vs ``level``, or rising/falling) held for at least ``min_count`` consecutive periods."""

    condition: Condition
    level: float = 0.0
    min_count: int = Field(gt=0)


@kind(
    "streak",
    StreakParams,
    {
        "streak": "count",
        "since": "date",
        "previous": "value",
        "change": "change",
        "change_pct": "fraction",
        "run_change": "change",
    },
)
def streak(inputs: Inputs, params: StreakParams, state: Mapping[str, Any]) -> Finding:
    """Fire every period the streak is at least ``min_count`` long; report its length and start."""
    points, g = inputs.points, inputs.granularity
    value = current(points, inputs.period)
    if value is None:
        return Finding(False)
    end = len(points) - 1
    n = _run(points, end, params.condition, params.level, g)
    change = _change(points, end, g)
    context: dict[str, Any] = {"streak": n, "since": points[end - n + 1][0].isoformat() if n else None, **change}
    moving = params.condition in ("rising", "falling")
    context["run_change"] = value - points[end - n][1] if moving and n else None
    return Finding(n >= params.min_count, value, _level(params.condition, params.level, change), context)


class LevelHeldParams(KindParams):
    """The value ``op level`` for ``periods`` consecutive periods."""

    op: Op
    level: float
    periods: int = Field(gt=0)


@kind("level_held", LevelHeldParams, {"held": "count", "since": "date"})
def level_held(inputs: Inputs, params: LevelHeldParams, state: Mapping[str, Any]) -> Finding:
    """Fire once per run, in the period the level has held for exactly ``periods`` periods."""
    points = inputs.points
    value = current(points, inputs.period)
    if value is None:
        return Finding(False)
    end = len(points) - 1
    n = _run(points, end, params.op, params.level, inputs.granularity)
    context = {"held": n, "since": points[end - n + 1][0].isoformat() if n else None}
    return Finding(n == params.periods, value, params.level, context)


class StreakEndParams(KindParams):
    """A streak of at least ``min_count`` periods of ``condition`` ended this period."""

    condition: Condition
    level: float = 0.0
    min_count: int = Field(gt=0)


@kind(
    "streak_end",
    StreakEndParams,
    {
        "ended_streak": "count",
        "streak_since": "date",
        "streak_until": "date",
        "previous": "value",
        "change": "change",
        "change_pct": "fraction",
    },
)
def streak_end(inputs: Inputs, params: StreakEndParams, state: Mapping[str, Any]) -> Finding:
    """Fire when the condition fails this period after holding for ``min_count`` or more periods before it."""
    points, g = inputs.points, inputs.granularity
    value = current(points, inputs.period)
    end = len(points) - 1
    if value is None or end == 0 or not consecutive(points[end - 1][0], points[end][0], g):
        return Finding(False, value)
    change = _change(points, end, g)
    threshold = _level(params.condition, params.level, change)
    holds = _holds(points, end, params.condition, params.level, g)
    m = 0 if holds else _run(points, end - 1, params.condition, params.level, g)
    context: dict[str, Any] = {
        "ended_streak": m,
        "streak_since": points[end - m][0].isoformat() if m else None,
        "streak_until": points[end - 1][0].isoformat() if m else None,
        **change,
    }
    return Finding(m >= params.min_count, value, threshold, context)


class ThresholdCrossParams(KindParams):
    """Crossing ``below`` (or ``above``) ``level``, re-armed only once the value is at or beyond ``rearm``."""

    direction: Literal["below", "above"]
    level: float
    rearm: float

    @field_validator("rearm")
    @classmethod
    def _rearm_beyond_level(cls, rearm: float, info: ValidationInfo) -> float:
        """Require the re-arm level on the far side of the level (or equal: no hysteresis)."""
        level, direction = info.data.get("level"), info.data.get("direction")
        if level is None or direction is None:
            return rearm
        if direction == "below" and rearm < level:
            raise ValueError(f"must be >= level ({level}) for a crossing below")
        if direction == "above" and rearm > level:
            raise ValueError(f"must be <= level ({level}) for a crossing above")
        return rearm


@kind("threshold_cross", ThresholdCrossParams, {"since": "date"})
def threshold_cross(inputs: Inputs, params: ThresholdCrossParams, state: Mapping[str, Any]) -> Finding:
    """Fire when the value crosses the level while armed; report the last period the condition held before.

    The series starts disarmed: it arms once a value reaches the re-arm level, so
    a series that starts below the level does not fire. The state (``armed``,
    ``last_held``, ``through``) carries the memory past the stored history; without
    it the hysteresis is replayed over the points.
    """
    points = inputs.points
    value = current(points, inputs.period)
    if value is None:
        return Finding(False, state=dict(state))
    below = params.direction == "below"

    def holds(v: float) -> bool:
        return compare(v, "lt" if below else "gt", params.level)

    def rearms(v: float) -> bool:
        return compare(v, "ge" if below else "le", params.rearm)

    through = state.get("through")
    if through is not None:
        armed, last = bool(state.get("armed")), state.get("last_held")
        start = bisect.bisect_right(points, date.fromisoformat(through), key=lambda p: p[0])
    else:
        armed, last, start = False, None, 0
    for day, v in islice(points, start, len(points) - 1):
        if holds(v):
            armed, last = False, day.isoformat()
        elif rearms(v):
            armed = True
    fired = holds(value) and armed
    new_state = {"armed": armed, "last_held": last, "through": inputs.period.isoformat()}
    if holds(value):
        new_state.update(armed=False, last_held=inputs.period.isoformat())
    elif rearms(value):
        new_state["armed"] = True
    return Finding(fired, value, params.level, {"since": last}, new_state)


class PercentileParams(KindParams):
    """Percentile rank over a trailing window at or above ``upper`` or at or below ``lower`` (0-100)."""

    window: Window
    upper: float | None = Field(default=None, ge=0, le=100)
    lower: float | None = Field(default=None, ge=0, le=100)
    min_points: int = Field(default=20, ge=2)

    @field_validator("lower")
    @classmethod
    def _lower_below_upper(cls, lower: float | None, info: ValidationInfo) -> float | None:
        """Require lower < upper when both are set."""
        upper = info.data.get("upper")
        if lower is not None and upper is not None and lower >= upper:
            raise ValueError(f"must be below upper ({upper})")
        return lower

    def since(self, period: date, granularity: Granularity) -> date | None:
        """Return the first day of the window."""
        return window_start(period, self.window) + timedelta(days=1)

    def can_fire(self) -> bool:
        """Return True when a bound is set (without one the kind only reports the percentile)."""
        return self.upper is not None or self.lower is not None


@kind(
    "percentile",
    PercentileParams,
    {"percentile": "percentile", "window": "window", "window_points": "count"},
    threshold_fmt="percentile",
)
def percentile(inputs: Inputs, params: PercentileParams, state: Mapping[str, Any]) -> Finding:
    """Fire at an extreme percentile rank: the share of the window's values <= the current value, x100."""
    points = inputs.points
    value = current(points, inputs.period)
    if value is None:
        return Finding(False)
    lo = bisect.bisect_right(points, window_start(inputs.period, params.window), key=lambda p: p[0])
    n = len(points) - lo
    context: dict[str, Any] = {"percentile": None, "window": params.window, "window_points": n}
    default = params.upper if params.upper is not None else params.lower
    if n < params.min_points:
        return Finding(False, value, default, context)
    at_or_below = sum(1 for _, v in islice(points, lo, None) if v <= value)
    rank = 100.0 * at_or_below / n
    context["percentile"] = rank
    if params.upper is not None and rank >= params.upper:
        return Finding(True, value, params.upper, context)
    if params.lower is not None and rank <= params.lower:
        return Finding(True, value, params.lower, context)
    return Finding(False, value, default, context)


class ExtremeParams(KindParams):
    """The highest (lowest) value in at least ``min_lookback`` periods; ``record_only``: of the stored history."""

    side: Literal["high", "low"]
    min_lookback: int = Field(default=1, gt=0)
    record_only: bool = False


@kind("extreme", ExtremeParams, {"since": "date", "periods_ago": "count", "record": "flag"})
def extreme(inputs: Inputs, params: ExtremeParams, state: Mapping[str, Any]) -> Finding:
    """Fire on an n-period high (low); report the last period whose value was larger (smaller) or equal.

    Walks back from the newest point until an equal-or-beyond value; when there is
    none the value is a record of the stored history and ``periods_ago`` is the
    span of that history. The threshold is the value that ends the run (or the
    previous record).
    """
    points, g = inputs.points, inputs.granularity
    value = current(points, inputs.period)
    if value is None or len(points) < 2:
        return Finding(False, value)
    high = params.side == "high"
    end = len(points) - 1
    j = end - 1
    best = points[j][1]
    while j >= 0:
        v = points[j][1]
        if (v >= value) if high else (v <= value):
            break
        best = max(best, v) if high else min(best, v)
        j -= 1
    record = j < 0
    ago = periods_between(points, 0 if record else j, end, g)
    context = {"since": None if record else points[j][0].isoformat(), "periods_ago": ago, "record": record}
    fired = ago >= params.min_lookback and (record or not params.record_only)
    return Finding(fired, value, best if record else points[j][1], context)


class LargestChangeParams(KindParams):
    """This period's change is the largest ``decline`` (``rise``) in at least ``min_lookback`` periods."""

    direction: Literal["decline", "rise"]
    min_lookback: int = Field(default=1, gt=0)
    change: Literal["diff", "pct"] = "diff"


def _delta(points: Sequence[Point], i: int, granularity: Granularity, mode: str) -> float | None:
    """Return the change into point ``i`` (difference or relative), None across a gap."""
    if i == 0 or not consecutive(points[i - 1][0], points[i][0], granularity):
        return None
    prev, value = points[i - 1][1], points[i][1]
    if mode == "diff":
        return value - prev
    return (value - prev) / abs(prev) if prev else None


@kind(
    "largest_change",
    LargestChangeParams,
    {
        "change": "change",
        "change_pct": "fraction",
        "previous": "value",
        "since": "date",
        "periods_ago": "count",
        "record": "flag",
    },
    threshold_fmt="change",
)
def largest_change(inputs: Inputs, params: LargestChangeParams, state: Mapping[str, Any]) -> Finding:
    """Fire when no move as large in the same direction happened for ``min_lookback`` periods; report when one did.

    The threshold is the last larger-or-equal move (None when there is none in the
    stored history).
    """
    points, g = inputs.points, inputs.granularity
    value = current(points, inputs.period)
    end = len(points) - 1
    if value is None:
        return Finding(False)
    delta = _delta(points, end, g, params.change)
    change = _change(points, end, g)
    decline = params.direction == "decline"
    if delta is None or (decline and delta >= 0) or (not decline and delta <= 0):
        return Finding(False, value, None, {**change, "since": None, "periods_ago": None, "record": False})
    j = end - 1
    larger: float | None = None
    while j >= 1:
        d = _delta(points, j, g, params.change)
        if d is not None and ((d <= delta) if decline else (d >= delta)):
            larger = d
            break
        j -= 1
    record = larger is None
    ago = periods_between(points, 0 if record else j, end, g)
    context = {**change, "since": None if record else points[j][0].isoformat(), "periods_ago": ago, "record": record}
    return Finding(ago >= params.min_lookback, value, larger, context)


class DistanceParams(KindParams):
    """Within ``within`` of the all-time high (low) after a ``move`` from the trailing ``window`` low (high).

    Both are fractions: ``within: 0.03`` is 3 %, ``move: 0.20`` a 20 % rally.
    """

    side: Literal["high", "low"] = "high"
    within: float = Field(gt=0)
    move: float = Field(gt=0)
    window: Window = "1y"


@kind(
    "distance_from_extreme",
    DistanceParams,
    {
        "extreme": "value",
        "extreme_date": "date",
        "distance": "fraction",
        "base": "value",
        "base_date": "date",
        "move": "fraction",
        "window": "window",
    },
)
def distance_from_extreme(inputs: Inputs, params: DistanceParams, state: Mapping[str, Any]) -> Finding:
    """Fire when the value is near its stored-history extreme after a large move off the window's opposite extreme.

    For ``high``: distance = (high - value) / high, move = value / window low - 1;
    the threshold is the level ``within`` below the high. Values must be positive.
    """
    points = inputs.points
    value = current(points, inputs.period)
    if value is None or len(points) < 2:
        return Finding(False, value)
    high = params.side == "high"
    ext_i = 0
    for i, (_, v) in enumerate(points):
        if (v >= points[ext_i][1]) if high else (v <= points[ext_i][1]):
            ext_i = i
    lo = bisect.bisect_right(points, window_start(inputs.period, params.window), key=lambda p: p[0])
    base_i = lo
    for i in range(lo, len(points)):
        if (points[i][1] <= points[base_i][1]) if high else (points[i][1] >= points[base_i][1]):
            base_i = i
    ext, base = points[ext_i][1], points[base_i][1]
    if ext <= 0 or base <= 0:
        return Finding(False, value)
    distance = (ext - value) / ext if high else (value - ext) / ext
    move = value / base - 1 if high else 1 - value / base
    context = {
        "extreme": ext,
        "extreme_date": points[ext_i][0].isoformat(),
        "distance": distance,
        "base": base,
        "base_date": points[base_i][0].isoformat(),
        "move": move,
        "window": params.window,
    }
    fired = compare(distance, "le", params.within) and compare(move, "ge", params.move)
    threshold = ext * (1 - params.within) if high else ext * (1 + params.within)
    return Finding(fired, value, threshold, context)


class ValueParams(KindParams):
    """No parameters: the kind reports the series' value in the period."""

    def since(self, period: date, granularity: Granularity) -> date | None:
        """Read the period only."""
        return period

    def can_fire(self) -> bool:
        """Never fire: ``value`` only reports."""
        return False


@kind("value", ValueParams, {"value": "value"})
def report_value(inputs: Inputs, params: ValueParams, state: Mapping[str, Any]) -> Finding:
    """Report the value of the period (filed in the alert's context under the check's name)."""
    v = current(inputs.points, inputs.period)
    return Finding(False, v, None, {"value": v})


# --- kinds over two series ---------------------------------------------------------


class _OnePeriod(KindParams):
    """Parameters of a kind that reads the period only."""

    def since(self, period: date, granularity: Granularity) -> date | None:
        """Read the period only."""
        return period


class RatioParams(_OnePeriod):
    """The rule's series divided by ``denominator``, compared with ``level``."""

    denominator: SeriesRef
    op: Op
    level: float


@kind(
    "ratio",
    RatioParams,
    {"numerator": "value", "denominator": "other"},
    shape="pair",
    ref="denominator",
    value_fmt="to_one",
    threshold_fmt="to_one",
)
def ratio(inputs: Inputs, params: RatioParams, state: Mapping[str, Any]) -> Finding:
    """Fire when a / b compares with the level; no value when b is missing or 0."""
    a, b = current(inputs.points, inputs.period), current(inputs.other, inputs.period)
    if a is None or b is None or b == 0:
        return Finding(False)
    r = a / b
    return Finding(compare(r, params.op, params.level), r, params.level, {"numerator": a, "denominator": b})


class SpreadParams(_OnePeriod):
    """The rule's series minus ``minus``, compared with ``level``."""

    minus: SeriesRef
    op: Op
    level: float


@kind("spread", SpreadParams, {"left": "value", "right": "other"}, shape="pair", ref="minus")
def spread(inputs: Inputs, params: SpreadParams, state: Mapping[str, Any]) -> Finding:
    """Fire when a - b compares with the level."""
    a, b = current(inputs.points, inputs.period), current(inputs.other, inputs.period)
    if a is None or b is None:
        return Finding(False)
    s = a - b
    return Finding(compare(s, params.op, params.level), s, params.level, {"left": a, "right": b})


class DivergenceParams(_OnePeriod):
    """The rule's series ``op level`` while ``other`` is within +-``band`` or of the opposite sign."""

    other: SeriesRef
    op: Literal["le", "ge"] = "le"
    level: float
    band: float = Field(ge=0)


@kind("divergence", DivergenceParams, {"other": "other", "relation": "text"}, shape="pair", ref="other")
def divergence(inputs: Inputs, params: DivergenceParams, state: Mapping[str, Any]) -> Finding:
    """Fire when one scope moves past the level and the other stays flat or goes the other way."""
    a, b = current(inputs.points, inputs.period), current(inputs.other, inputs.period)
    if a is None or b is None:
        return Finding(False, a)
    relation = "flat" if compare(abs(b), "le", params.band) else "opposite" if a * b < 0 else None
    fired = compare(a, params.op, params.level) and relation is not None
    return Finding(fired, a, params.level, {"other": b, "relation": relation})


class ShareParams(KindParams):
    """The share of ``part`` in the rule's series (the total); fires on a move of ``move`` or more w/w (or d/d).

    ``move`` is a fraction: 0.15 is 15 percentage points.
    """

    part: SeriesRef
    move: float = Field(gt=0)

    def since(self, period: date, granularity: Granularity) -> date | None:
        """Read the period and the one before it."""
        return period - timedelta(days=7 if granularity == "week" else 10)


@kind(
    "share",
    ShareParams,
    {
        "share": "fraction",
        "rest": "fraction",
        "previous_share": "fraction",
        "move": "points",
        "part": "value",
        "total": "value",
    },
    shape="pair",
    ref="part",
    value_fmt="fraction",
    threshold_fmt="points",
)
def share(inputs: Inputs, params: ShareParams, state: Mapping[str, Any]) -> Finding:
    """Fire when the part's share of the total moved by at least ``move`` since the previous period."""
    totals, period = inputs.points, inputs.period
    total, part = current(totals, period), value_at(inputs.other, period)
    if total is None or part is None or total == 0:
        return Finding(False)
    sh = part / total
    prev_share = None
    end = len(totals) - 1
    if end > 0 and consecutive(totals[end - 1][0], period, inputs.granularity):
        prev_day, prev_total = totals[end - 1]
        prev_part = value_at(inputs.other, prev_day)
        if prev_part is not None and prev_total != 0:
            prev_share = prev_part / prev_total
    move = sh - prev_share if prev_share is not None else None
    fired = move is not None and compare(abs(move), "ge", params.move)
    context = {"share": sh, "rest": 1 - sh, "previous_share": prev_share, "move": move, "part": part, "total": total}
    return Finding(fired, sh, params.move, context)


# --- kinds over a group of scopes -------------------------------------------------------


class BreadthParams(_OnePeriod):
    """At least ``min_count`` of the scopes of the wildcard satisfy ``condition level``; ``top`` names in the text."""

    condition: Op = "gt"
    level: float = 0.0
    min_count: int = Field(gt=0)
    top: int = Field(default=4, gt=0)


@kind(
    "breadth",
    BreadthParams,
    {"count": "count", "of": "count", "leaders": "list", "laggards": "list", "missing": "names"},
    shape="group",
    value_fmt="count",
    threshold_fmt="count",
)
def breadth(inputs: Inputs, params: BreadthParams, state: Mapping[str, Any]) -> Finding:
    """Fire when k of n scopes satisfy the condition; report leaders and laggards, strongest first.

    ``n`` counts every scope that has a series; one without a point this period
    counts as not satisfying and is listed under ``missing``. Leaders are sorted
    from the strongest (largest for gt/ge, smallest for lt/le), laggards from the
    weakest; ties by name.
    """
    values = {name: v for name, pts in inputs.group.items() if (v := current(pts, inputs.period)) is not None}
    if not values:
        return Finding(False)
    sign = -1.0 if params.condition in ("gt", "ge") else 1.0
    ranked = sorted(values.items(), key=lambda kv: (sign * kv[1], kv[0]))
    leaders = [[n, v] for n, v in ranked if compare(v, params.condition, params.level)]
    failing = [kv for kv in values.items() if not compare(kv[1], params.condition, params.level)]
    laggards = [[n, v] for n, v in sorted(failing, key=lambda kv: (-sign * kv[1], kv[0]))]
    context = {
        "count": len(leaders),
        "of": len(inputs.group),
        "leaders": leaders,
        "laggards": laggards,
        "missing": sorted(set(inputs.group) - set(values)),
    }
    return Finding(len(leaders) >= params.min_count, float(len(leaders)), float(params.min_count), context)
