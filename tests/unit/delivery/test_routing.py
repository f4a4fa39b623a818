"""The routing tree: matching, inheritance, continue, per-rule overrides, and errors that name file, route, field."""

from __future__ import annotations

from pathlib import Path

import pytest

from signal_monitor.delivery.routing import (
    DEFAULT_ROUTES_PATH,
    Noise,
    RouteFileError,
    format_duration,
    load_routes,
    parse_duration,
    parse_routes,
)
from tests.unit.delivery.factory import make_alert

TREE = """
version: 1
receivers:
  - {name: desk, type: console}
  - {name: urgent, type: slack, channel: "#urgent", pace: 2s}
  - {name: energy, type: slack, webhook_url_env: ENERGY_HOOK}
route:
  receiver: desk
  group_wait: 30s
  realert: 1h
  routes:
    - name: urgent
      match: {severity: [critical, warning]}
      receiver: urgent
      group_wait: 0s
      continue: true
    - name: energy
      match: {scope.sector: Energy}
      match_re: {rule: "sector_.*"}
      receiver: energy
      realert: 6h
      routes:
        - name: energy-vix
          match: {topic: volatility}
          resolved: true
inhibit:
  - source: {severity: critical}
    target: {severity: warning}
    equal: [scope]
    for: 2h
rules:
  vix_below_17: {realert: 3d}
  sector_breadth: {group: false}
"""


def _names(routes, alert) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.name for r in routes.match(alert)]


def test_default_file_sends_everything_to_the_auto_receiver() -> None:
    routes = load_routes(DEFAULT_ROUTES_PATH)
    assert routes.receivers["desk"].type == "auto"
    for severity in ("info", "warning", "critical"):
        assert [r.receiver for r in routes.match(make_alert(severity=severity))] == ["desk"]
    assert load_routes(None).path == str(DEFAULT_ROUTES_PATH)


def test_default_file_sends_provisional_findings_to_their_own_console_not_the_desk() -> None:
    routes = load_routes(DEFAULT_ROUTES_PATH)
    assert routes.receivers["provisional"].type == "console"
    for severity in ("info", "warning", "critical"):
        matched = routes.match(make_alert(severity=severity, provisional=True))
        assert [(r.receiver, r.provisional) for r in matched] == [("provisional", True)]
    assert [r.provisional for r in routes.match(make_alert())] == [False]


def test_a_child_of_a_provisional_route_is_provisional_too() -> None:
    routes = parse_routes("""
receivers: [{name: desk, type: console}, {name: week, type: console}, {name: week_urgent, type: console}]
route:
  receiver: desk
  routes:
    - name: running_week
      match: {provisional: "true"}
      receiver: week
      routes:
        - {name: running_week_urgent, match: {severity: critical}, receiver: week_urgent}
    - {name: final_urgent, match: {severity: critical}, receiver: desk}
""")
    urgent = routes.match(make_alert(severity="critical", provisional=True))
    assert [(r.name, r.provisional) for r in urgent] == [("running_week_urgent", True)]
    assert [(r.name, r.provisional) for r in routes.match(make_alert(severity="critical"))] == [("final_urgent", False)]


def test_the_provisional_matcher_takes_true_or_false() -> None:
    with pytest.raises(RouteFileError) as exc:
        parse_routes("receivers: [{name: d, type: console}]\nroute: {receiver: d, routes: [{match: {provisional: maybe}}]}\n")
    assert exc.value.field == "match.provisional" and "true or false" in str(exc.value)


def test_first_matching_child_wins_and_continue_goes_on() -> None:
    routes = parse_routes(TREE)
    assert _names(routes, make_alert(severity="info", scope={"sector": "Tech"})) == ["route"]
    assert _names(routes, make_alert(severity="warning", scope={"sector": "Tech"})) == ["urgent"]
    # urgent has continue: the energy route also takes it
    energy = make_alert("sector_net_buying_high", {"sector": "Energy"}, severity="critical")
    assert _names(routes, energy) == ["urgent", "energy"]
    # regex must match the whole rule id
    assert _names(routes, make_alert("hf_net_buying", {"sector": "Energy"}, severity="info")) == ["route"]


def test_deepest_matching_route_delivers_and_inherits() -> None:
    routes = parse_routes(TREE)
    alert = make_alert("sector_vol", {"sector": "Energy"}, severity="info", labels={"topic": "volatility"})
    (route,) = routes.match(alert)
    assert route.name == "energy-vix"
    assert route.receiver == "energy"  # inherited from the parent
    assert route.noise == Noise(group_wait=30.0, group_max=20, realert=6 * 3600.0, resolved=True)


def test_rule_overrides_apply_on_any_route() -> None:
    routes = parse_routes(TREE)
    vix = make_alert("vix_below_17", {"symbol": "VIX"}, severity="info")
    assert routes.noise(routes.root, vix).realert == 3 * 86400.0
    breadth = make_alert("sector_breadth", severity="info")
    assert routes.noise(routes.root, breadth).group_wait == 0.0
    other = make_alert("other", severity="info")
    assert routes.noise(routes.root, other) == routes.root.noise


def test_inhibit_rule_keys_by_scope() -> None:
    routes = parse_routes(TREE)
    (rule,) = routes.inhibit
    critical = make_alert("a", {"sector": "Energy"}, severity="critical")
    warning = make_alert("b", {"sector": "Energy"}, severity="warning")
    other = make_alert("b", {"sector": "Tech"}, severity="warning")
    assert rule.source.matches(critical) and rule.target.matches(warning)
    assert rule.key(critical) == rule.key(warning) != rule.key(other)
    assert rule.duration == 7200.0


def test_check_rule_ids_names_the_unknown_rule() -> None:
    routes = parse_routes(TREE, "routes.yaml")
    with pytest.raises(RouteFileError, match=r"routes.yaml, rules.vix_below_17: unknown rule id"):
        routes.check_rule_ids(["sector_breadth"])
    routes.check_rule_ids(["sector_breadth", "vix_below_17"])


@pytest.mark.parametrize(
    ("text", "where", "field", "message"),
    [
        (
            TREE.replace("group_wait: 0s", "group_wait: soon"),
            "route 'urgent' (route.routes[0])",
            "group_wait",
            "not a duration",
        ),
        (
            TREE.replace("match: {severity: [critical, warning]}", "match: {severity: [crtical]}"),
            "route 'urgent' (route.routes[0])",
            "match.severity",
            "unknown severity 'crtical'",
        ),
        (
            TREE.replace("receiver: urgent", "receiver: nobody"),
            "route 'urgent' (route.routes[0])",
            "receiver",
            "unknown receiver 'nobody'",
        ),
        (
            TREE.replace("          resolved: true", "          resolve: true"),
            "route 'energy-vix' (route.routes[1].routes[0])",
            "resolve",
            "Extra inputs are not permitted",
        ),
        (
            TREE.replace('match_re: {rule: "sector_.*"}', 'match_re: {rule: "sector_("}'),
            "route 'energy' (route.routes[1])",
            "match_re.rule",
            "invalid regular expression",
        ),
        (TREE.replace("type: slack, channel", "type: sluck, channel"), "receiver 'urgent'", "type", "Input should be"),
        (
            TREE.replace('channel: "#urgent"', 'channel: "#urgent", webhook_url_env: X'),
            "receiver 'urgent'",
            "channel",
            "not both",
        ),
        (TREE.replace("    for: 2h", "    for: -1"), "inhibit[0]", "for", "negative"),
        (
            TREE.replace("  vix_below_17: {realert: 3d}", "  vix_below_17: {realert: 3 days}"),
            "rules.vix_below_17",
            "realert",
            "not a duration",
        ),
    ],
)
def test_errors_name_file_route_and_field(text: str, where: str, field: str, message: str) -> None:
    with pytest.raises(RouteFileError) as caught:
        parse_routes(text, "conf/routes.yaml")
    error = caught.value
    assert (error.path, error.where, error.field) == ("conf/routes.yaml", where, field)
    assert message in error.message
    assert str(error).startswith(f"conf/routes.yaml, {where}, field {field!r}: ")


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(RouteFileError, match="cannot read the file"):
        load_routes(tmp_path / "missing.yaml")
    with pytest.raises(RouteFileError, match="YAML syntax error at line 2"):
        parse_routes("a: [\nb: c", "x.yaml")
    with pytest.raises(RouteFileError, match="duplicate key 'route'"):
        parse_routes(TREE + "\nroute: {receiver: desk}\n")
    with pytest.raises(RouteFileError, match="route, field 'match': the root route matches every alert"):
        parse_routes(
            TREE.replace("  receiver: desk\n  group_wait", "  receiver: desk\n  match: {rule: x}\n  group_wait")
        )
    with pytest.raises(RouteFileError, match="route, field 'receiver': the root route needs a receiver"):
        parse_routes(TREE.replace("  receiver: desk\n  group_wait", "  group_wait"))
    with pytest.raises(RouteFileError, match="receiver 'desk', field 'name': two receivers"):
        parse_routes(TREE.replace("  - {name: energy,", "  - {name: desk,"))


def test_durations() -> None:
    assert parse_duration("90s") == 90.0
    assert parse_duration("1h30m") == 5400.0
    assert parse_duration("2h") == 7200.0
    assert parse_duration("3d") == 259200.0
    assert parse_duration("250ms") == 0.25
    assert parse_duration(45) == 45.0
    assert parse_duration("0") == 0.0
    for bad in ("2x", "h", "1h junk", "-5s", True):
        with pytest.raises(ValueError):
            parse_duration(bad)  # type: ignore[arg-type]
    assert format_duration(5400) == "1h30m"
    assert format_duration(0) == "0s"


def _docs_routes() -> list[str]:
    """Return the routes examples of docs/slack.md, in order."""
    from tests.unit.test_docs_examples import BLOCKS, classify

    docs = [text for where, text in BLOCKS if where.startswith("docs/slack.md")]
    return [text for text in docs if (found := classify(text)) is not None and found[0] == "routes"]


def test_continue_reaches_siblings_never_the_root_as_the_docs_say() -> None:
    """docs/slack.md: a critical alert goes to urgent (and energy for an Energy sector rule), never to the desk."""
    main, with_digest = _docs_routes()[:2]  # the third: provisional findings
    routes = parse_routes(main)
    critical = make_alert("gross_leverage_record", {"strategy": "macro"}, severity="critical")
    assert [r.receiver for r in routes.match(critical)] == ["urgent"]
    energy = make_alert("sector_net_buying_high", {"sector": "Energy"}, severity="critical")
    assert [r.receiver for r in routes.match(energy)] == ["urgent", "energy"]
    assert [r.receiver for r in routes.match(make_alert(severity="info"))] == ["desk"]
    # the second example: a last route matching everything gives the desk digest the urgent alerts too
    digest = parse_routes(with_digest)
    assert [r.receiver for r in digest.match(critical)] == ["urgent", "desk"]
    assert [r.name for r in digest.match(make_alert(severity="info"))] == ["desk-digest"]
    assert digest.noise(digest.match(critical)[1], critical).group_wait == 30.0
