"""The rule schema and its loader: a YAML rule file validated with pydantic at start-up.

A rule watches one metric over a scope at one granularity (``period``). A scope
value ``"*"`` means every value of that dimension that has a series. The rule
holds one condition (``kind`` + ``params``) or several (``any_of`` / ``all_of``),
each a registered kind of :mod:`signal_monitor.rules.kinds`, optionally over
another metric of the same scope; ``report`` lists figures added to the alert's
context without gating it. ``provisional: true`` (week rules) also evaluates the rule on
the running week, a provisional finding worded by ``provisional_message``. Every error
names the file, the rule and the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SerializeAsAny, ValidationError

from signal_monitor.config.yamlfile import load_yaml
from signal_monitor.errors import RuleFileError
from signal_monitor.notes.section import DEFAULT_PLACEMENT, NotePlacement
from signal_monitor.periods import Granularity
from signal_monitor.rules.kinds import KINDS, KindParams, SeriesRef
from signal_monitor.rules.names import BASE_FIELDS, NO_NAMES, DisplayNames
from signal_monitor.series import (
    EXPOSURE_FUND_SCOPES,
    EXPOSURE_SLICE_SCOPES,
    FLOW_SCOPES,
    ExposureSums,
    exposure_metrics,
    flow_metrics,
)

Severity = Literal["info", "warning", "critical"]
WILDCARD = "*"
MAX_LINK_URL = 3000  #: Block Kit's limit on a button's url


def _link(url: str) -> str:
    if not re.fullmatch(r"https?://[^\s/]+\S*", url):
        raise ValueError("give an http(s) URL, e.g. https://wiki.example.com/runbooks/vix")
    if len(url) > MAX_LINK_URL:
        raise ValueError(f"a Slack button's link has at most {MAX_LINK_URL} characters (this one {len(url)})")
    return url


#: A link a Slack button opens: http(s), at most 3000 characters.
LinkUrl = Annotated[str, AfterValidator(_link)]


@dataclass(frozen=True)
class MetricInfo:
    """Where a metric has series: its granularities and the scope dimension sets it is kept for."""

    periods: tuple[Granularity, ...]
    scopes: frozenset[frozenset[str]]


def _metric_table() -> dict[str, MetricInfo]:
    """Return every metric of :mod:`signal_monitor.series` with its granularities and scopes."""
    flows = frozenset(frozenset(s) for s in FLOW_SCOPES)
    fund = frozenset(frozenset(s) for s in EXPOSURE_FUND_SCOPES)
    slices = frozenset(frozenset(s) for s in EXPOSURE_SLICE_SCOPES)
    table = {m: MetricInfo(("week",), flows) for m in flow_metrics({"sell_short": 1.0})}
    for m in exposure_metrics(ExposureSums(1.0, 1.0, 1.0, 1), with_leverage=True):
        table[m] = MetricInfo(("day", "week"), fund)
    for m in exposure_metrics(ExposureSums(1.0, 1.0, 0.0, 1), with_leverage=False):
        table[m] = MetricInfo(("day", "week"), fund | slices)
    table["close"] = MetricInfo(("day", "week"), frozenset({frozenset({"symbol"})}))
    table["return"] = MetricInfo(("week",), frozenset({frozenset({"symbol"})}))
    table["obs"] = MetricInfo(("day", "week"), frozenset({frozenset({"series"})}))
    return table


METRICS: dict[str, MetricInfo] = _metric_table()


class Check(BaseModel):
    """One condition of a rule, or one reported figure: a kind with its parameters over a metric of the rule's scope."""

    model_config = ConfigDict(frozen=True)

    name: str
    kind: str
    metric: str
    params: SerializeAsAny[KindParams]


class Rule(BaseModel):
    """A validated rule: what to watch, when it fires (any or all of its checks), what it reports, where it goes."""

    model_config = ConfigDict(frozen=True)

    id: str
    description: str
    summary: str = ""
    metric: str
    period: Granularity
    scope: dict[str, str]
    exclude: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    combine: Literal["any", "all"] = "any"
    checks: tuple[Check, ...]
    report: tuple[Check, ...] = ()
    severity: Severity = "info"
    labels: dict[str, str] = Field(default_factory=dict)
    message: str | None = None
    cooldown: int = Field(default=0, ge=0, description="Periods kept quiet after an alert, per scope.")
    provisional: bool = Field(default=False, description="Also evaluated on the running week, as a provisional finding.")
    provisional_message: str | None = Field(default=None, description="The template of a provisional finding's text.")
    runbook_url: str = Field(default="", description="What to do about an alert of the rule: a Slack button.")
    dashboard_url: str = Field(default="", description="Where the rule's series are charted: a Slack button.")
    names: DisplayNames = Field(default=NO_NAMES, description="The file's names section: how scope values read.")
    note: NotePlacement = Field(default=DEFAULT_PLACEMENT, description="Its section and rank in the week's note.")

    @property
    def wildcards(self) -> tuple[str, ...]:
        """Return the scope dimensions given as ``"*"``, sorted."""
        return tuple(sorted(k for k, v in self.scope.items() if v == WILDCARD))

    @property
    def grouped(self) -> bool:
        """Return True when the rule runs once over all scopes of its wildcard (breadth) instead of once per scope."""
        return KINDS[self.checks[0].kind].shape == "group"


@dataclass(frozen=True)
class RuleSet:
    """The rules of one file, in file order."""

    path: str
    rules: tuple[Rule, ...]
    names: DisplayNames = NO_NAMES

    def __iter__(self) -> Iterator[Rule]:
        """Iterate over the rules in file order."""
        return iter(self.rules)

    def __len__(self) -> int:
        """Return the number of rules."""
        return len(self.rules)

    def get(self, rule_id: str) -> Rule:
        """Return the rule with this id (KeyError when none)."""
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)

    def for_period(self, granularity: Granularity) -> tuple[Rule, ...]:
        """Return the rules evaluated when a period of this granularity closes."""
        return tuple(r for r in self.rules if r.period == granularity)


# --- the file's raw shape -------------------------------------------------------------

_NAME = r"^[a-z][a-z0-9_]*$"


class _CheckSpec(BaseModel):
    """A condition or report as written in the file."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    name: str | None = Field(default=None, pattern=_NAME)
    metric: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)


class _RuleSpec(BaseModel):
    """A rule as written in the file."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=_NAME)
    description: str = Field(min_length=1)
    summary: str | None = Field(default=None, min_length=1, max_length=120)
    metric: str
    period: Granularity
    scope: dict[str, str] = Field(default_factory=dict)
    exclude: dict[str, list[str]] = Field(default_factory=dict)
    kind: str | None = None
    params: dict[str, Any] | None = None
    any_of: list[_CheckSpec] | None = Field(default=None, min_length=1)
    all_of: list[_CheckSpec] | None = Field(default=None, min_length=1)
    report: list[_CheckSpec] = Field(default_factory=list)
    severity: Severity = "info"
    labels: dict[str, str] = Field(default_factory=dict)
    message: str | None = None
    cooldown: int = Field(default=0, ge=0)
    note: NotePlacement = DEFAULT_PLACEMENT
    provisional: bool = False
    provisional_message: str | None = Field(default=None, min_length=1)
    runbook_url: LinkUrl | None = None
    dashboard_url: LinkUrl | None = None


# --- loading ------------------------------------------------------------------------


def load_rules(path: str | Path) -> RuleSet:
    """Read and validate a rule file; raise ``RuleFileError`` naming the file, rule and field of the first error."""
    rules, errors = check_rules_file(path)
    if errors:
        raise _first_of(errors)
    assert rules is not None
    return rules


def parse_rules(text: str, path: str = "<rules>") -> RuleSet:
    """Validate the text of a rule file; ``path`` names it in errors (the first one is raised)."""
    rules, errors = check_rules(text, path)
    if errors:
        raise _first_of(errors)
    assert rules is not None
    return rules


def check_rules_file(path: str | Path) -> tuple[RuleSet | None, list[RuleFileError]]:
    """Read and validate a rule file; return the rule set (None on any error) and every error found."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        return None, [RuleFileError(name, None, None, f"cannot read the file: {exc.strerror or exc}")]
    return check_rules(text, name)


def check_rules(text: str, path: str = "<rules>") -> tuple[RuleSet | None, list[RuleFileError]]:
    """Validate the text of a rule file; return the rule set (None on any error) and every error, in file order.

    Each rule is checked on its own, so one bad rule does not hide the errors of the next; within a
    rule, each check, report and the message are checked apart from each other.
    """
    try:
        doc = load_yaml(text, path, RuleFileError)
    except RuleFileError as exc:
        return None, [exc]
    if not isinstance(doc, dict) or not isinstance(doc.get("rules"), list):
        return None, [RuleFileError(path, None, "rules", "the file must be a mapping with a 'rules' list")]
    errors: list[RuleFileError] = []
    for key in sorted(str(k) for k in doc if k not in ("version", "names", "rules")):
        errors.append(RuleFileError(path, None, key, "unknown top-level key (allowed: version, names, rules)"))
    names = NO_NAMES
    try:
        names = DisplayNames.model_validate(doc.get("names") or {})
    except ValidationError as exc:
        errors.extend(RuleFileError(path, None, fld, msg) for fld, msg in _pydantic_errors(exc, "names."))
    if doc.get("version", 1) != 1:
        errors.append(RuleFileError(path, None, "version", f"unsupported version {doc['version']!r} (this build reads 1)"))
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(doc["rules"], start=1):
        if not isinstance(raw, dict):
            errors.append(RuleFileError(path, f"#{index}", None, "a rule must be a mapping"))
            continue
        raw_id = raw.get("id")
        rid = raw_id if isinstance(raw_id, str) and raw_id else f"#{index}"
        if isinstance(raw_id, str) and raw_id in seen:
            errors.append(RuleFileError(path, raw_id, "id", f"duplicate rule id (rule #{seen[raw_id]} has it too)"))
        elif isinstance(raw_id, str):
            seen[raw_id] = index
        builder = _Builder(path, rid, names)
        rule = builder.build(raw)
        errors.extend(builder.errors)
        if rule is not None:
            rules.append(rule)
    if errors:
        return None, errors
    return RuleSet(path=path, rules=tuple(rules), names=names), []


def _first_of(errors: list[RuleFileError]) -> RuleFileError:
    """Return the first error, saying how many more there are (``rules check`` lists them all)."""
    first = errors[0]
    if len(errors) == 1:
        return first
    more = f"{first.message} (and {len(errors) - 1} more: signal-monitor rules check {first.path} lists them)"
    return RuleFileError(first.path, first.rule_id, first.field, more)


def _pydantic_errors(exc: ValidationError, prefix: str) -> list[tuple[str, str]]:
    """Return (dotted field, message) for every error of a pydantic validation."""
    out = []
    for error in exc.errors(include_url=False):
        loc = ".".join(str(part) for part in error["loc"])
        out.append(((prefix + loc).rstrip("."), error["msg"]))
    return out


class _Invalid(Exception):
    """Raised inside the builder to stop checking one part of a rule; the error is already recorded."""


class _Builder:
    """Turns one raw rule into a ``Rule``, recording every ``RuleFileError`` (with the rule id and field) it finds."""

    def __init__(self, path: str, rule_id: str, names: DisplayNames = NO_NAMES) -> None:
        self.path = path
        self.rule_id = rule_id
        self.names = names
        self.errors: list[RuleFileError] = []

    def fail(self, field: str | None, message: str) -> _Invalid:
        """Record an error for ``field``; return the signal that stops checking this part."""
        self.errors.append(RuleFileError(self.path, self.rule_id, field, message))
        return _Invalid()

    def metric(self, metric: str, period: Granularity, dims: frozenset[str], field: str) -> None:
        """Check that ``metric`` exists, has series at ``period`` and is kept for the scope dimensions ``dims``."""
        info = METRICS.get(metric)
        if info is None:
            raise self.fail(field, f"unknown metric {metric!r} (known: {', '.join(sorted(METRICS))})")
        if period not in info.periods:
            raise self.fail(field, f"metric {metric!r} has no {period} series (only {', '.join(info.periods)})")
        if dims not in info.scopes:
            allowed = "; ".join(sorted("{" + ", ".join(sorted(s)) + "}" for s in info.scopes))
            message = f"metric {metric!r} is not kept for scope dimensions {sorted(dims)} (allowed: {allowed})"
            raise self.fail(field, message)

    def check(self, spec: _CheckSpec, prefix: str, rule: _RuleSpec, *, reporting: bool) -> Check | None:
        """Validate one condition or report; None (errors recorded) when it is invalid."""
        try:
            return self._check(spec, prefix, rule, reporting=reporting)
        except _Invalid:
            return None

    def _check(self, spec: _CheckSpec, prefix: str, rule: _RuleSpec, *, reporting: bool) -> Check:
        kind = KINDS.get(spec.kind)
        if kind is None:
            raise self.fail(f"{prefix}kind", f"unknown kind {spec.kind!r} (known: {', '.join(sorted(KINDS))})")
        metric = spec.metric or rule.metric
        dims = frozenset(rule.scope)
        valid = True
        try:
            self.metric(metric, rule.period, dims, f"{prefix}metric" if spec.metric else "metric")
        except _Invalid:
            valid = False
        try:
            params = kind.params.model_validate(spec.params)
        except ValidationError as exc:
            for fld, message in _pydantic_errors(exc, f"{prefix}params."):
                self.fail(fld, message)
            raise _Invalid() from exc
        if not reporting and not params.can_fire():
            message = f"a {spec.kind!r} check with these params never fires; list it under report"
            raise self.fail(f"{prefix}kind", message)
        if reporting and kind.shape == "group":
            raise self.fail(f"{prefix}kind", f"kind {spec.kind!r} cannot be a report")
        if kind.ref:
            self.ref(getattr(params, kind.ref), metric, rule, f"{prefix}params.{kind.ref}")
        if not valid:
            raise _Invalid()
        name = spec.name or (metric if spec.kind == "value" else spec.kind)
        return Check(name=name, kind=spec.kind, metric=metric, params=params)

    def ref(self, ref: SeriesRef, metric: str, rule: _RuleSpec, field: str) -> None:
        """Validate the second series of a pair kind."""
        for key, value in ref.scope.items():
            values = value if isinstance(value, list) else [value]
            if not values or WILDCARD in values:
                raise self.fail(f"{field}.scope.{key}", "give a value or a non-empty list of values (no '*')")
        dims = frozenset(rule.scope) | frozenset(ref.scope)
        self.metric(ref.metric or metric, rule.period, dims, f"{field}.metric" if ref.metric else f"{field}.scope")

    def build(self, raw: Mapping[str, Any]) -> Rule | None:
        """Validate the whole rule; None when it has errors (see ``errors``)."""
        try:
            return self._build(raw)
        except _Invalid:
            return None

    def _build(self, raw: Mapping[str, Any]) -> Rule | None:
        try:
            spec = _RuleSpec.model_validate(raw)
        except ValidationError as exc:
            for fld, message in _pydantic_errors(exc, ""):
                self.fail(fld, message)
            raise _Invalid() from exc
        given = [k for k in ("kind", "any_of", "all_of") if getattr(spec, k) is not None]
        if len(given) != 1:
            raise self.fail("kind", "give exactly one of kind (with params), any_of or all_of")
        if spec.params is not None and spec.kind is None:
            self.fail("params", "params belong to kind; under any_of/all_of each check has its own")
        wild = {k for k, v in spec.scope.items() if v == WILDCARD}
        for key in spec.exclude:
            if key not in wild:
                self.fail(f"exclude.{key}", "only a wildcard ('*') dimension of the scope can exclude values")
        if spec.kind is not None:
            specs = [("", _CheckSpec(kind=spec.kind, params=spec.params or {}))]
        else:
            group = "any_of" if spec.any_of is not None else "all_of"
            specs = [(f"{group}.{i}.", c) for i, c in enumerate(getattr(spec, group) or [])]
        found = [self.check(c, prefix, spec, reporting=False) for prefix, c in specs]
        found_report = [self.check(c, f"report.{i}.", spec, reporting=True) for i, c in enumerate(spec.report)]
        prefixes = [prefix for prefix, _ in specs] + [f"report.{i}." for i in range(len(found_report))]
        names: set[str] = set()
        for prefix, check in zip(prefixes, found + found_report, strict=True):
            if check is None:
                continue
            if check.name in names:
                self.fail(f"{prefix}name", f"two checks are named {check.name!r}; give each a distinct name")
            names.add(check.name)
        checks = tuple(c for c in found if c is not None)
        report = tuple(c for c in found_report if c is not None)
        grouped = [c for c in checks if KINDS[c.kind].shape == "group"]
        if grouped and (len(specs) > 1 or spec.report):
            self.fail("kind", f"kind {grouped[0].kind!r} runs over all scopes at once: it must be the only check")
        if grouped and len(wild) != 1:
            self.fail("scope", f"kind {grouped[0].kind!r} needs exactly one '*' dimension in the scope")
        complete = len(checks) == len(found) and len(report) == len(found_report)
        if spec.message is not None and complete:  # placeholders come from the checks: only when all are valid
            try:
                self.template(spec.message, spec, checks + report)
            except _Invalid:
                pass
        if spec.provisional and spec.period != "week":
            self.fail("provisional", "only a week rule can be provisional: it is evaluated on the running week")
        if spec.provisional_message is not None:
            if not spec.provisional:
                self.fail("provisional_message", "set provisional: true to give a provisional message")
            elif complete:
                try:
                    self.template(spec.provisional_message, spec, checks + report, field="provisional_message")
                except _Invalid:
                    pass
        if self.errors:
            return None
        return Rule(
            id=spec.id,
            description=spec.description,
            summary=spec.summary or spec.description.rstrip("."),
            metric=spec.metric,
            period=spec.period,
            scope=spec.scope,
            exclude={k: tuple(v) for k, v in spec.exclude.items()},
            combine="all" if spec.all_of is not None else "any",
            checks=checks,
            report=report,
            severity=spec.severity,
            labels=spec.labels,
            message=spec.message,
            cooldown=spec.cooldown,
            provisional=spec.provisional,
            provisional_message=spec.provisional_message,
            runbook_url=spec.runbook_url or "",
            dashboard_url=spec.dashboard_url or "",
            names=self.names,
            note=spec.note,
        )

    def template(self, message: str, spec: _RuleSpec, checks: tuple[Check, ...], *, field: str = "message") -> None:
        """Check that a message template is well formed and uses only known placeholders."""
        template = Template(message)
        if not template.is_valid():
            raise self.fail(field, "invalid placeholder (write $name or ${name}; a literal dollar is $$)")
        known = set(BASE_FIELDS) | set(spec.scope)
        for check in checks:
            keys = KINDS[check.kind].context
            known |= {check.name} if check.kind == "value" else set(keys)
            known |= {f"{k}_ordinal" for k, fmt in keys.items() if fmt == "count" and check.kind != "value"}
        for name in sorted(set(template.get_identifiers()) - known):
            self.fail(field, f"unknown placeholder ${name} (known: {', '.join(sorted(known))})")
