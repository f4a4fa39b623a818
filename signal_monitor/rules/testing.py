"""Rule tests a desk writes, like ``promtool test rules``: fixtures in, the alerts expected out.

A test file names rule files (relative to itself) and lists test cases::

    rule_files: [rules.yaml]
    tests:
      - name: the VIX below 17 for the first time since February
        series:                                   # points per period, written as history
          - metric: close
            period: day
            scope: {symbol: VIX}
            start: 2025-02-18                     # values fill consecutive periods from here:
            values: "18.2 16.9 18.4 _ 16.5"       #   trading days (day) or Fridays (week); _ skips one
          - {metric: close, period: day, scope: {symbol: SPX}, points: {2025-06-06: 6000}}
        events:                                   # and/or events, through ingestion and period close
          quotes: [{ts: "2025-06-09T16:00:00-04:00", symbol: VIX, price: 16.1, kind: close}]
        eval: 2025-06-06                          # a period, or a list evaluated in order
        rules: [vix_below_17]                     # optional: only these rules (default: all)
        alerts:                                   # exactly these fire (rule + scope [+ period]; text optional)
          - rule: vix_below_17
            scope: {symbol: VIX}
            text: "VIX closed at 16.5 on 2025-06-06, below 17 for the first time since 2025-02-19."

``eval`` evaluates the day rules at each date, and the week rules at the dates that are Fridays. With
``events``, the events are replayed (after the series are written) and the alerts of the ``eval``
periods are compared. An expected alert without ``period`` is expected at every ``eval`` period of a
case with one, else it must say which.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from signal_monitor.config.yamlfile import load_yaml
from signal_monitor.errors import ConfigFileError
from signal_monitor.exchange_calendar import is_trading_day
from signal_monitor.periods import Granularity, week_of
from signal_monitor.rules.alert import Alert
from signal_monitor.rules.model import RuleSet, check_rules_file
from signal_monitor.series import scope_key, series_id
from signal_monitor.state.base import Point
from signal_monitor.streams.topics import INPUTS


class RuleRuleTestsError(ConfigFileError):
    """A rule test file is invalid: names the file, the test and the field."""


class _SeriesSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metric: str
    period: Granularity
    scope: dict[str, str] = Field(default_factory=dict)
    start: date | None = None
    values: str | list[float | str] | None = None
    points: dict[date, float] | None = None

    def expand(self) -> list[Point]:
        """Return the points: ``points`` as given, or ``values`` over consecutive periods from ``start``."""
        out: list[Point] = sorted(self.points.items()) if self.points else []
        if self.values is None:
            return out
        if self.start is None:
            raise ValueError("values need a start")
        items = self.values.split() if isinstance(self.values, str) else list(self.values)
        day = self.start
        if self.period == "week" and week_of(day) != day:
            raise ValueError(f"start {day} is not a Friday (a week is named by its Friday)")
        if self.period == "day" and not is_trading_day(day):
            raise ValueError(f"start {day} is not a trading day")
        for item in items:
            if item != "_":
                try:
                    out.append((day, float(item)))
                except ValueError:
                    raise ValueError(f"{item!r} is not a number (or _ for no point)") from None
            day = _next(day, self.period)
        return sorted(out)


def _next(day: date, granularity: Granularity) -> date:
    """Return the next period: the next trading day, or the next Friday."""
    if granularity == "week":
        return day + timedelta(days=7)
    day += timedelta(days=1)
    while not is_trading_day(day):
        day += timedelta(days=1)
    return day


class _ExpectedSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule: str
    scope: dict[str, str] = Field(default_factory=dict)
    period: date | None = None
    text: str | None = None


class _CaseSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    series: list[_SeriesSpec] = Field(default_factory=list)
    events: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)
    eval: list[date]
    rules: list[str] | None = None
    alerts: list[_ExpectedSpec] = Field(default_factory=list)

    @field_validator("eval", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return value if isinstance(value, list) else [value]

    @field_validator("events")
    @classmethod
    def _known_kinds(cls, value: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
        unknown = sorted(set(value) - set(INPUTS))
        if unknown:
            raise ValueError(f"unknown event kind {unknown[0]!r} (known: {', '.join(INPUTS)})")
        return value


class _FileSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule_files: list[str] = Field(min_length=1)
    tests: list[_CaseSpec] = Field(min_length=1)


@dataclass(frozen=True)
class Expected:
    """One alert a case expects."""

    rule: str
    scope: dict[str, str]
    period: date
    text: str | None

    @property
    def key(self) -> tuple[str, str, date]:
        """Return what identifies the alert: rule, scope and period."""
        return self.rule, scope_key(self.scope), self.period


@dataclass(frozen=True)
class Case:
    """One validated test case."""

    name: str
    series: dict[str, list[Point]]
    events: dict[str, list[dict[str, Any]]]
    eval: tuple[date, ...]
    rules: tuple[str, ...] | None
    alerts: tuple[Expected, ...]


@dataclass(frozen=True)
class RuleTests:
    """A validated rule test file: its rules and cases."""

    path: str
    rules: RuleSet
    cases: tuple[Case, ...]


@dataclass
class CaseResult:
    """What one case found: the alerts it expected and those that fired (within its rules and periods)."""

    case: Case
    expected: list[Expected]
    got: list[Alert]
    missing: list[Expected] = field(default_factory=list)
    unexpected: list[Alert] = field(default_factory=list)
    wrong_text: list[tuple[Expected, Alert]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Return True when exactly the expected alerts fired, with the expected texts."""
        return not (self.missing or self.unexpected or self.wrong_text)


def load_test_file(path: str | Path) -> RuleTests:
    """Read and validate a rule test file and the rule files it names; raise ``ConfigFileError`` on a problem."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleRuleTestsError(name, None, None, f"cannot read the file: {exc.strerror or exc}") from exc
    doc = load_yaml(text, name, RuleRuleTestsError)
    try:
        spec = _FileSpec.model_validate(doc)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        loc = list(error["loc"])
        where = None
        if len(loc) >= 2 and loc[0] == "tests" and isinstance(loc[1], int):
            raw = doc["tests"][loc[1]] if isinstance(doc, dict) and isinstance(doc.get("tests"), list) else None
            title = raw.get("name") if isinstance(raw, dict) else None
            where, loc = (f"test {title!r}" if title else f"tests[{loc[1]}]"), loc[2:]
        raise RuleRuleTestsError(name, where, ".".join(map(str, loc)) or None, error["msg"]) from exc
    rules = _load_rule_files(name, spec.rule_files)
    known = {rule.id for rule in rules}
    cases = []
    for i, cs in enumerate(spec.tests):
        where = f"test {cs.name!r}"
        for j, rid in enumerate(cs.rules or []):
            if rid not in known:
                raise RuleRuleTestsError(name, where, f"rules.{j}", f"unknown rule {rid!r} (known: {', '.join(sorted(known))})")
        series: dict[str, list[Point]] = {}
        for j, ss in enumerate(cs.series):
            try:
                series.setdefault(series_id(ss.metric, ss.period, ss.scope), []).extend(ss.expand())
            except ValueError as exc:
                raise RuleRuleTestsError(name, where, f"series.{j}", str(exc)) from exc
        expected = []
        for j, es in enumerate(cs.alerts):
            if es.rule not in known:
                raise RuleRuleTestsError(name, where, f"alerts.{j}.rule", f"unknown rule {es.rule!r}")
            if cs.rules is not None and es.rule not in cs.rules:
                raise RuleRuleTestsError(name, where, f"alerts.{j}.rule", f"{es.rule!r} is not among the test's rules")
            if es.period is None and len(cs.eval) != 1:
                raise RuleRuleTestsError(name, where, f"alerts.{j}.period", "give the period: the test evaluates several")
            expected.append(Expected(es.rule, es.scope, es.period or cs.eval[0], es.text))
        cases.append(
            Case(cs.name, series, cs.events, tuple(cs.eval), tuple(cs.rules) if cs.rules else None, tuple(expected))
        )
    return RuleTests(name, rules, tuple(cases))


def _load_rule_files(path: str, files: list[str]) -> RuleSet:
    """Load the rule files a test file names (relative to it) as one rule set."""
    base = Path(path).parent
    rules = []
    for i, item in enumerate(files):
        ruleset, errors = check_rules_file(base / item)
        if errors:
            first = errors[0]
            raise RuleRuleTestsError(path, None, f"rule_files.{i}", f"{first}" + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""))
        assert ruleset is not None
        rules.extend(ruleset)
    ids = Counter(rule.id for rule in rules)
    twice = sorted(rid for rid, n in ids.items() if n > 1)
    if twice:
        raise RuleRuleTestsError(path, None, "rule_files", f"rule {twice[0]!r} is in more than one file")
    return RuleSet(path=",".join(files), rules=tuple(rules))


async def run_case(rules: RuleSet, case: Case) -> CaseResult:
    """Run one case in memory and compare what fired with what it expects."""
    from signal_monitor.offline.replay import replay
    from signal_monitor.rules.engine import RuleEngine
    from signal_monitor.state.memory import MemoryState

    chosen = [r for r in rules if case.rules is None or r.id in case.rules]
    state = MemoryState()
    engine = RuleEngine(chosen, state)
    for sid, points in case.series.items():
        await state.put_series(sid, points)
    fired: list[Alert] = []
    if case.events:
        inputs = [(kind, _events(items)) for kind, items in case.events.items()]
        summary = await replay(state, inputs, evaluator=engine)
        if summary.dead_letters:
            letter = summary.dead_letters[0]
            raise RuleRuleTestsError("<events>", f"test {case.name!r}", "events", f"an event was rejected: {letter.reason}: {letter.detail}")
        periods = set(case.eval)
        fired = [a for a in summary.alerts if a.period_end in periods and not a.correction]
    else:
        for period in case.eval:
            fired.extend(await engine.evaluate(period, "day"))
            if week_of(period) == period:
                fired.extend(await engine.evaluate(period, "week"))
    await state.close()
    return compare(case, fired)


def _events(items: list[dict[str, Any]]) -> list[tuple[float, bytes]]:
    """Return (event time, JSON) of inline events, as a replay reads them."""
    out = []
    for item in items:
        try:
            ts = datetime.fromisoformat(str(item["ts"])).timestamp()
        except (KeyError, ValueError):
            ts = 0.0  # the ingestor rejects it with the precise reason
        out.append((ts, json.dumps(item, default=str).encode()))
    return out


def compare(case: Case, fired: list[Alert]) -> CaseResult:
    """Match fired alerts with the expected ones by rule, scope and period; then compare texts."""
    result = CaseResult(case, list(case.alerts), sorted(fired, key=lambda a: (a.period_end, a.rule, scope_key(a.scope))))
    left = list(result.got)
    for exp in case.alerts:
        match = next((a for a in left if (a.rule, scope_key(a.scope), a.period_end) == exp.key), None)
        if match is None:
            result.missing.append(exp)
            continue
        left.remove(match)
        if exp.text is not None and match.text != exp.text:
            result.wrong_text.append((exp, match))
    result.unexpected = left
    return result


def _scope(scope: dict[str, str]) -> str:
    return "{" + ", ".join(f"{k}={v}" for k, v in sorted(scope.items())) + "}"


def describe_failure(result: CaseResult) -> list[str]:
    """Return the lines that show a failed case: expected vs got, then what differs."""
    lines = ["  expected:"]
    lines += [f"    {e.period} {e.rule} {_scope(e.scope)}" + (f": {e.text!r}" if e.text is not None else "") for e in result.expected] or ["    (no alert)"]
    lines.append("  got:")
    lines += [f"    {a.period_end} {a.rule} {_scope(a.scope)}: {a.text!r}" for a in result.got] or ["    (no alert)"]
    for e in result.missing:
        lines.append(f"  missing: {e.period} {e.rule} {_scope(e.scope)}")
    for a in result.unexpected:
        lines.append(f"  unexpected: {a.period_end} {a.rule} {_scope(a.scope)}")
    for e, a in result.wrong_text:
        lines.append(f"  text of {e.period} {e.rule} {_scope(e.scope)}:")
        lines.append(f"    expected: {e.text!r}")
        lines.append(f"    got:      {a.text!r}")
    return lines


__all__ = [
    "Case",
    "CaseResult",
    "Expected",
    "RuleRuleTestsError",
    "RuleTests",
    "compare",
    "describe_failure",
    "load_test_file",
    "run_case",
]
