"""The routing tree: which receivers get an alert, and each route's noise settings, read from a YAML file.

The tree follows Alertmanager: the root route matches every alert; an alert
descends into the first child whose matchers all hold (and into later siblings
too when that child says ``continue: true``); the deepest matching routes
deliver it. A route delivers an alert itself only when none of its children
takes it: ``continue`` reaches later siblings, never the parent, so the root's
receiver gets only the alerts no child route takes. A child inherits its parent's receiver and noise settings unless
it sets its own. Matcher keys are ``severity``, ``rule``, ``granularity``,
``provisional`` (``"true"`` or ``"false"``), ``scope.<dimension>`` or a label
name. Every error names the file, the route and the field.

A provisional finding (of the running week) is delivered only by a route that
matches ``provisional: "true"`` (or a child of one): a provisional alert that
lands anywhere else is not sent, so a routes file without such a route keeps
provisional findings out of every receiver.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from signal_monitor.config.settings import DEFAULT_ROUTES_PATH
from signal_monitor.config.yamlfile import load_yaml
from signal_monitor.errors import RouteFileError
from signal_monitor.rules.alert import Alert
from signal_monitor.series import scope_key

SEVERITIES = ("info", "warning", "critical")
ReceiverType = Literal["auto", "console", "slack"]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
_ENV_NAME = r"^[A-Z_][A-Z0-9_]*$"


def parse_duration(value: str | float | int) -> float:
    """Return the seconds of ``value``: a number of seconds or text like ``90s``, ``15m``, ``2h``, ``1h30m``, ``3d``."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text like 30s, 15m, 2h, 3d")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    text = str(value).strip().lower()
    if text in ("0", ""):
        return 0.0
    pos, total = 0, 0.0
    for found in _DURATION.finditer(text):
        if found.start() != pos and text[pos : found.start()].strip():
            break
        total += float(found.group(1)) * _UNITS[found.group(2)]
        pos = found.end()
    if pos == 0 or text[pos:].strip():
        raise ValueError(f"{value!r} is not a duration (write 30s, 15m, 2h, 1h30m, 3d or a number of seconds)")
    return total


def format_duration(seconds: float) -> str:
    """Return ``seconds`` as short text (``2h``, ``1h30m``, ``45s``, ``0s``)."""
    rest = round(seconds)
    if rest <= 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts)


Duration = Annotated[float, BeforeValidator(parse_duration)]


def _match_text(value: Any) -> Any:
    """Read a YAML boolean matcher value (``provisional: true``) as the text it matches: ``"true"``/``"false"``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return [_match_text(v) for v in value]
    return value


MatchValues = Annotated[str | list[str], BeforeValidator(_match_text)]


# --- the compiled tree -------------------------------------------------------------------------


def alert_field(alert: Alert, key: str) -> str | None:
    """Return the value a matcher key reads from ``alert`` (None when the alert has none)."""
    if key == "severity":
        return alert.severity
    if key == "rule":
        return alert.rule
    if key == "granularity":
        return alert.granularity
    if key == "provisional":
        return "true" if alert.provisional else "false"
    if key.startswith("scope."):
        return alert.scope.get(key[6:])
    return alert.labels.get(key)


@dataclass(frozen=True)
class Matcher:
    """Equality (any of several values) and regex matchers; all must hold. An empty matcher matches everything."""

    equal: Mapping[str, frozenset[str]] = field(default_factory=dict)
    regex: Mapping[str, re.Pattern[str]] = field(default_factory=dict)

    def matches(self, alert: Alert) -> bool:
        """Return whether every matcher holds for ``alert``."""
        for key, values in self.equal.items():
            if alert_field(alert, key) not in values:
                return False
        for key, pattern in self.regex.items():
            value = alert_field(alert, key)
            if value is None or not pattern.fullmatch(value):
                return False
        return True

    @property
    def empty(self) -> bool:
        """Return True when the matcher has no condition."""
        return not self.equal and not self.regex


@dataclass(frozen=True)
class Noise:
    """The noise settings of a route for one alert: grouping, realert, resolved notices."""

    group_wait: float = 0.0
    group_max: int = 20
    realert: float = 0.0
    resolved: bool = False


@dataclass(frozen=True)
class Receiver:
    """Where messages go: the console, or Slack (a bot-token channel or a webhook); ``auto`` picks from settings."""

    name: str
    type: ReceiverType
    channel: str | None = None
    webhook_url_env: str | None = None
    pace: float | None = None


@dataclass(frozen=True)
class Route:
    """One node of the routing tree with its inherited receiver and noise settings."""

    name: str
    receiver: str
    matcher: Matcher
    noise: Noise
    continue_: bool = False
    children: tuple[Route, ...] = ()
    #: it (or a parent) matches ``provisional: "true"``: provisional findings routed here on purpose are sent
    provisional: bool = False


@dataclass(frozen=True)
class RuleNoise:
    """Per-rule overrides of the route's noise settings."""

    realert: float | None = None
    group: bool | None = None


@dataclass(frozen=True)
class InhibitRule:
    """While a ``source`` alert is recent, ``target`` alerts equal on ``equal`` are muted."""

    source: Matcher
    target: Matcher
    equal: tuple[str, ...]
    duration: float

    def key(self, alert: Alert) -> str:
        """Return the text the ``equal`` fields of ``alert`` form (the same for a source and the targets it mutes)."""
        parts = []
        for name in self.equal:
            if name == "scope":
                parts.append(scope_key(alert.scope))
            elif name == "period":
                parts.append(f"{alert.granularity}:{alert.period_end.isoformat()}")
            else:
                parts.append(f"{name}={alert_field(alert, name)}")
        return "\x1f".join(parts)


@dataclass(frozen=True)
class Routes:
    """A validated routes file: receivers, the routing tree, inhibition rules and per-rule noise overrides."""

    path: str
    receivers: Mapping[str, Receiver]
    root: Route
    inhibit: tuple[InhibitRule, ...] = ()
    rules: Mapping[str, RuleNoise] = field(default_factory=dict)

    def match(self, alert: Alert) -> list[Route]:
        """Return the routes that deliver ``alert`` (at least the root)."""
        return _walk(self.root, alert)

    def noise(self, route: Route, alert: Alert) -> Noise:
        """Return ``route``'s noise settings for ``alert``, with the alert's rule overrides applied."""
        override = self.rules.get(alert.rule)
        if override is None:
            return route.noise
        noise = route.noise
        if override.realert is not None:
            noise = Noise(noise.group_wait, noise.group_max, override.realert, noise.resolved)
        if override.group is False:
            noise = Noise(0.0, noise.group_max, noise.realert, noise.resolved)
        return noise

    def check_rule_ids(self, rule_ids: Iterable[str]) -> None:
        """Raise RouteFileError when the file names a rule id that is not in ``rule_ids``."""
        errors = self.unknown_rule_ids(rule_ids)
        if errors:
            raise errors[0]

    def unknown_rule_ids(self, rule_ids: Iterable[str]) -> list[RouteFileError]:
        """Return an error for every rule id the file names that is not in ``rule_ids``."""
        known = set(rule_ids)
        errors = [
            RouteFileError(self.path, f"rules.{rule_id}", None, f"unknown rule id {rule_id!r}")
            for rule_id in self.rules
            if rule_id not in known
        ]
        for route in self.walk():
            for rid in sorted(route.matcher.equal.get("rule", ())):
                if rid not in known:
                    errors.append(
                        RouteFileError(self.path, f"route {route.name!r}", "match.rule", f"unknown rule id {rid!r}")
                    )
        return errors

    def walk(self) -> list[Route]:
        """Return every route of the tree, depth first."""
        out: list[Route] = []
        stack = [self.root]
        while stack:
            route = stack.pop()
            out.append(route)
            stack.extend(reversed(route.children))
        return out


def _walk(route: Route, alert: Alert) -> list[Route]:
    found: list[Route] = []
    for child in route.children:
        if child.matcher.matches(alert):
            found.extend(_walk(child, alert))
            if not child.continue_:
                break
    return found or [route]


# --- the file's raw shape ----------------------------------------------------------------------


class _ReceiverSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=_NAME)
    type: ReceiverType
    channel: str | None = Field(default=None, min_length=1)
    webhook_url_env: str | None = Field(default=None, pattern=_ENV_NAME)
    pace: Duration | None = None


class _RouteSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str | None = Field(default=None, pattern=_NAME)
    receiver: str | None = None
    match: dict[str, MatchValues] = Field(default_factory=dict)
    match_re: dict[str, str] = Field(default_factory=dict)
    continue_: bool = Field(default=False, alias="continue")
    group_wait: Duration | None = None
    group_max: int | None = Field(default=None, ge=1, le=24)
    realert: Duration | None = None
    resolved: bool | None = None
    routes: list[_RouteSpec] = Field(default_factory=list)


class _InhibitSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    source: dict[str, MatchValues] = Field(default_factory=dict)
    source_re: dict[str, str] = Field(default_factory=dict)
    target: dict[str, MatchValues] = Field(default_factory=dict)
    target_re: dict[str, str] = Field(default_factory=dict)
    equal: list[str] = Field(default_factory=lambda: ["scope"])
    for_: Duration = Field(default=86400.0, alias="for")


class _RuleNoiseSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    realert: Duration | None = None
    group: bool | None = None


class _FileSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    receivers: list[_ReceiverSpec] = Field(min_length=1)
    route: _RouteSpec
    inhibit: list[_InhibitSpec] = Field(default_factory=list)
    rules: dict[str, _RuleNoiseSpec] = Field(default_factory=dict)


# --- loading -----------------------------------------------------------------------------------


def load_routes(path: str | Path | None = None) -> Routes:
    """Read and validate a routes file (the shipped default when ``path`` is None); raise the first error."""
    routes, errors = check_routes_file(path)
    if errors:
        raise _first_of(errors)
    assert routes is not None
    return routes


def parse_routes(text: str, path: str = "<routes>") -> Routes:
    """Validate the text of a routes file; ``path`` names it in errors (the first one is raised)."""
    routes, errors = check_routes(text, path)
    if errors:
        raise _first_of(errors)
    assert routes is not None
    return routes


def check_routes_file(
    path: str | Path | None = None, *, rule_ids: Iterable[str] | None = None
) -> tuple[Routes | None, list[RouteFileError]]:
    """Read and validate a routes file; return the routes (None on any error) and every error found.

    With ``rule_ids``, a rule id the file names that is not among them is an error too.
    """
    path = DEFAULT_ROUTES_PATH if path is None else path
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        return None, [RouteFileError(name, None, None, f"cannot read the file: {exc.strerror or exc}")]
    return check_routes(text, name, rule_ids=rule_ids)


def check_routes(
    text: str, path: str = "<routes>", *, rule_ids: Iterable[str] | None = None
) -> tuple[Routes | None, list[RouteFileError]]:
    """Validate the text of a routes file; return the routes (None on any error) and every error found."""
    try:
        doc = load_yaml(text, path, RouteFileError)
    except RouteFileError as exc:
        return None, [exc]
    if not isinstance(doc, dict):
        return None, [RouteFileError(path, None, None, "the file must be a mapping with 'receivers' and 'route'")]
    try:
        spec = _FileSpec.model_validate(doc)
    except ValidationError as exc:
        return None, [RouteFileError(path, *_locate(error, doc)) for error in exc.errors(include_url=False)]
    compiler = _Compiler(path)
    routes = compiler.compile(spec)
    errors = compiler.errors + (routes.unknown_rule_ids(rule_ids) if rule_ids is not None else [])
    if errors:
        return None, errors
    return routes, []


def _first_of(errors: list[RouteFileError]) -> RouteFileError:
    """Return the first error, saying how many more there are (``routes check`` lists them all)."""
    first = errors[0]
    if len(errors) == 1:
        return first
    more = f"{first.message} (and {len(errors) - 1} more: signal-monitor routes check {first.path} lists them)"
    return RouteFileError(first.path, first.where, first.field, more)


def _locate(error: Mapping[str, Any], doc: Mapping[str, Any]) -> tuple[str | None, str | None, str]:
    """Return (where, field, message) of one pydantic error: the route or receiver it is in, and the field."""
    loc = list(error["loc"])
    message = str(error["msg"])
    if not loc:
        return None, None, message
    if loc[0] == "route":
        node: Any = doc.get("route")
        where = "route"
        i = 1
        while i + 1 < len(loc) and loc[i] == "routes" and isinstance(loc[i + 1], int):
            node = (
                node["routes"][loc[i + 1]] if isinstance(node, dict) and isinstance(node.get("routes"), list) else None
            )
            where += f".routes[{loc[i + 1]}]"
            i += 2
        name = node.get("name") if isinstance(node, dict) else None
        label = f"route {name!r} ({where})" if isinstance(name, str) else where
        fld = ".".join(str(p) for p in loc[i:]) or None
        return label, fld, message
    if loc[0] in ("receivers", "inhibit") and len(loc) > 1 and isinstance(loc[1], int):
        items = doc.get(loc[0])
        item = items[loc[1]] if isinstance(items, list) and loc[1] < len(items) else None
        name = item.get("name") if isinstance(item, dict) and loc[0] == "receivers" else None
        where = f"receiver {name!r}" if isinstance(name, str) else f"{loc[0]}[{loc[1]}]"
        return where, ".".join(str(p) for p in loc[2:]) or None, message
    if loc[0] == "rules" and len(loc) > 1:
        return f"rules.{loc[1]}", ".".join(str(p) for p in loc[2:]) or None, message
    return None, ".".join(str(p) for p in loc), message


class _Compiler:
    """Turns the validated file into ``Routes``, checking what pydantic cannot (names, references, regexes).

    Every problem is recorded in ``errors`` and checking goes on, so one run names them all.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.receivers: dict[str, Receiver] = {}
        self.route_names: set[str] = set()
        self.errors: list[RouteFileError] = []

    def fail(self, where: str | None, fld: str | None, message: str) -> None:
        """Record an error."""
        self.errors.append(RouteFileError(self.path, where, fld, message))

    def compile(self, spec: _FileSpec) -> Routes:
        """Compile the whole file (meaningful only when ``errors`` stays empty)."""
        for rs in spec.receivers:
            where = f"receiver {rs.name!r}"
            if rs.name in self.receivers:
                self.fail(where, "name", "two receivers have this name")
            if rs.type == "console" and (rs.channel or rs.webhook_url_env):
                self.fail(
                    where, "channel" if rs.channel else "webhook_url_env", "a console receiver takes no Slack settings"
                )
            if rs.channel and rs.webhook_url_env:
                self.fail(
                    where,
                    "channel",
                    "give channel (posted with SLACK_BOT_TOKEN) or webhook_url_env, not both: "
                    "an incoming webhook is bound to its own channel",
                )
            self.receivers[rs.name] = Receiver(rs.name, rs.type, rs.channel, rs.webhook_url_env, rs.pace)
        if spec.route.match or spec.route.match_re:
            self.fail("route", "match", "the root route matches every alert: move matchers to a child route")
        if spec.route.continue_:
            self.fail("route", "continue", "the root route has no siblings: continue does not apply")
        root_noise = Noise(
            group_wait=spec.route.group_wait or 0.0,
            group_max=spec.route.group_max or 20,
            realert=spec.route.realert or 0.0,
            resolved=bool(spec.route.resolved),
        )
        if spec.route.receiver is None:
            self.fail("route", "receiver", "the root route needs a receiver (alerts no child matches go there)")
        root = self.route(spec.route, "route", None, root_noise)
        inhibit = tuple(self.inhibit(item, i) for i, item in enumerate(spec.inhibit))
        rules = {rid: RuleNoise(r.realert, r.group) for rid, r in spec.rules.items()}
        return Routes(self.path, dict(self.receivers), root, inhibit, rules)

    def route(self, spec: _RouteSpec, where: str, parent: Route | None, inherited: Noise) -> Route:
        """Compile one route and its children."""
        label = f"route {spec.name!r} ({where})" if spec.name else where
        receiver = spec.receiver or (parent.receiver if parent else None)
        if receiver is not None and receiver not in self.receivers:
            known = ", ".join(sorted(self.receivers))
            self.fail(label, "receiver", f"unknown receiver {receiver!r} (known: {known})")
        name = spec.name or where
        if name in self.route_names:
            self.fail(label, "name", "two routes have this name")
        self.route_names.add(name)
        matcher = self.matcher(spec.match, spec.match_re, label, "match")
        noise = Noise(
            group_wait=inherited.group_wait if spec.group_wait is None else spec.group_wait,
            group_max=inherited.group_max if spec.group_max is None else spec.group_max,
            realert=inherited.realert if spec.realert is None else spec.realert,
            resolved=inherited.resolved if spec.resolved is None else spec.resolved,
        )
        provisional = (parent is not None and parent.provisional) or matcher.equal.get("provisional") == {"true"}
        node = Route(name, receiver or "", matcher, noise, spec.continue_, provisional=provisional)
        children = tuple(self.route(c, f"{where}.routes[{i}]", node, noise) for i, c in enumerate(spec.routes))
        return Route(name, receiver or "", matcher, noise, spec.continue_, children, provisional)

    def matcher(self, equal: Mapping[str, MatchValues], regex: Mapping[str, str], where: str, fld: str) -> Matcher:
        """Compile equality and regex matchers, checking severities and regexes."""
        values: dict[str, frozenset[str]] = {}
        for key, raw in equal.items():
            items = [raw] if isinstance(raw, str) else list(raw)
            if not items:
                self.fail(where, f"{fld}.{key}", "give a value or a non-empty list of values")
            if key == "severity":
                for bad in (v for v in items if v not in SEVERITIES):
                    self.fail(where, f"{fld}.{key}", f"unknown severity {bad!r} (known: {', '.join(SEVERITIES)})")
            if key == "provisional":
                for bad in (v for v in items if v not in ("true", "false")):
                    self.fail(where, f"{fld}.{key}", f"give true or false, not {bad!r}")
            values[key] = frozenset(items)
        patterns: dict[str, re.Pattern[str]] = {}
        for key, text in regex.items():
            try:
                patterns[key] = re.compile(text)
            except re.error as exc:
                self.fail(where, f"{fld}_re.{key}", f"invalid regular expression: {exc}")
        return Matcher(values, patterns)

    def inhibit(self, spec: _InhibitSpec, index: int) -> InhibitRule:
        """Compile one inhibition rule."""
        where = f"inhibit[{index}]"
        source = self.matcher(spec.source, spec.source_re, where, "source")
        target = self.matcher(spec.target, spec.target_re, where, "target")
        if source.empty or target.empty:
            self.fail(where, "source" if source.empty else "target", "give at least one matcher")
        if not spec.equal:
            self.fail(where, "equal", "give the fields source and target share (e.g. [scope])")
        return InhibitRule(source, target, tuple(spec.equal), spec.for_)
