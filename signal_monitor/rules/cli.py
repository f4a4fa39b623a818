"""The ``rules`` group (check rule files, run a desk's rule tests, like promtool) and the ``alerts`` group."""

from __future__ import annotations

import sys
from collections import Counter
from typing import Any

import click


@click.group()
def rules() -> None:
    """Check rule files and run rule tests."""


@rules.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def rules_check(files: tuple[str, ...]) -> None:
    """Validate rule files: every error at once, each naming the file, the rule and the field; exit 1 on any."""
    from signal_monitor.rules.model import check_rules_file

    failed = 0
    for path in files:
        ruleset, errors = check_rules_file(path)
        if errors:
            failed += len(errors)
            for error in errors:
                click.echo(str(error), err=True)
            continue
        assert ruleset is not None
        per = Counter(rule.period for rule in ruleset)
        periods = ", ".join(f"{n} {p}ly" if p == "week" else f"{n} daily" for p, n in sorted(per.items()))
        click.echo(f"{path}: {len(ruleset)} rules OK ({periods or 'none'})")
    if failed:
        click.echo(f"{failed} error{'s' if failed != 1 else ''} in {len(files)} file{'s' if len(files) != 1 else ''}", err=True)
        sys.exit(1)


@rules.command("test")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--run", "only", metavar="TEXT", default=None, help="Only the tests whose name contains TEXT.")
def rules_test(files: tuple[str, ...], only: str | None) -> None:
    """Run rule test files: fixtures in, the alerts expected out; a failure shows expected vs got; exit 1 on any."""
    import asyncio

    from signal_monitor.errors import ConfigFileError
    from signal_monitor.rules.testing import describe_failure, load_test_file, run_case

    import logging

    if logging.getLogger().level > logging.DEBUG:  # a replayed case closes periods: not news here
        logging.getLogger("signal_monitor.agents.closer").setLevel(logging.WARNING)
    passed = failed = 0
    for path in files:
        try:
            suite = load_test_file(path)
        except ConfigFileError as exc:
            click.echo(f"ERROR {exc}", err=True)
            failed += 1
            continue
        for case in suite.cases:
            if only and only not in case.name:
                continue
            try:
                result = asyncio.run(run_case(suite.rules, case))
            except ConfigFileError as exc:
                click.echo(f"ERROR {path}: {exc}", err=True)
                failed += 1
                continue
            if result.passed:
                passed += 1
                click.echo(f"PASS {path}: {case.name}")
            else:
                failed += 1
                click.echo(f"FAIL {path}: {case.name}")
                for line in describe_failure(result):
                    click.echo(line)
    click.echo(f"{passed + failed} tests: {passed} passed, {failed} failed")
    if failed:
        sys.exit(1)


def select_alerts(
    alerts: list[dict[str, Any]],
    *,
    rules: tuple[str, ...] = (),
    scope: dict[str, str] | None = None,
    period: str | None = None,
    severities: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    """Return the alerts (as stored JSON) of any of ``rules``, holding every ``scope`` pair, of ``period``, severity."""
    out = []
    for alert in alerts:
        if rules and alert.get("rule") not in rules:
            continue
        held = alert.get("scope") or {}
        if scope and any(held.get(k) != v for k, v in scope.items()):
            continue
        if period and period not in (alert.get("period_end"), alert.get("period_start")):
            continue
        if severities and alert.get("severity") not in severities:
            continue
        out.append(alert)
    return out


@click.group()
def alerts() -> None:
    """The alerts the workers produced recently (the capped list the status and the dashboard read)."""


@alerts.command("list")
@click.option("--rule", "rule_ids", multiple=True, metavar="ID", help="Only this rule (repeatable).")
@click.option("--scope", "scope", multiple=True, metavar="KEY=VALUE", help="Only alerts with this scope value (repeatable).")
@click.option("--period", metavar="YYYY-MM-DD", default=None, help="Only the alerts of this period (its first or last day).")
@click.option(
    "--severity", "severities", multiple=True, type=click.Choice(["info", "warning", "critical"]),
    help="Only this severity (repeatable).",
)
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True, help="Most alerts shown.")
@click.option("--json", "as_json", is_flag=True, help="One JSON alert per line.")
def alerts_list(
    rule_ids: tuple[str, ...], scope: tuple[str, ...], period: str | None, severities: tuple[str, ...], limit: int,
    as_json: bool,
) -> None:
    """List recent alerts, newest first, from Redis (the last RECENT_ALERTS_MAX the workers produced)."""
    import json
    from datetime import date

    from rich.console import Console
    from rich.table import Table

    from signal_monitor.delivery.cli import _run, _settings
    from signal_monitor.delivery.silences import parse_scope
    from signal_monitor.status.recent_alerts import RECENT_ALERTS_MAX, recent_alerts

    try:
        pairs = parse_scope(scope)
        if period:
            date.fromisoformat(period)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    settings = _settings()
    stored = _run(settings, lambda client: recent_alerts(client, settings.key_prefix, limit=RECENT_ALERTS_MAX))
    chosen = select_alerts(stored, rules=rule_ids, scope=pairs, period=period, severities=severities)[:limit]
    if as_json:
        for alert in chosen:
            click.echo(json.dumps(alert))
        return
    table = Table(title=f"{len(chosen)} of the {len(stored)} recent alerts")
    for column in ("period", "rule", "severity", "scope", "dedup key", "text"):
        table.add_column(column, overflow="fold")
    for alert in chosen:
        where = ", ".join(f"{k}={v}" for k, v in sorted((alert.get("scope") or {}).items()))
        table.add_row(
            str(alert.get("period_end", "")), str(alert.get("rule", "")), str(alert.get("severity", "")), where,
            str(alert.get("dedup_key", "")), str(alert.get("text", "")),
        )
    Console().print(table)


@click.command()
@click.argument("key", metavar="[DEDUP_KEY]", required=False)
@click.option("--rule", "rule_id", metavar="ID", default=None, help="The rule (with --scope and --period, instead of a key).")
@click.option("--scope", "scope", multiple=True, metavar="KEY=VALUE", help="The alert's scope (repeatable).")
@click.option("--period", metavar="YYYY-MM-DD", default=None, help="The period (a day, or a week's Friday).")
@click.option("--rules", "rules_path", type=click.Path(dir_okay=False), default=None, help="The rule file (default: SM_RULES_PATH).")
@click.option("--routes", "routes_path", type=click.Path(dir_okay=False), default=None, help="The routes file (default: SM_ROUTES_PATH).")
@click.option("--json", "as_json", is_flag=True, help="What is known, as one JSON object.")
def explain(
    key: str | None, rule_id: str | None, scope: tuple[str, ...], period: str | None, rules_path: str | None,
    routes_path: str | None, as_json: bool,
) -> None:
    """Why an alert fired and what delivery did: points, threshold, rule state, routes, silences, inhibition, realert."""
    import asyncio
    import json
    import time
    from datetime import date

    from signal_monitor.cli_support import open_state as _open_state
    from signal_monitor.cli_support import settings_or_exit as _settings
    from signal_monitor.delivery.routing import check_routes_file
    from signal_monitor.delivery.silences import parse_scope
    from signal_monitor.redaction import redact_url
    from signal_monitor.rules.explain import Target, find
    from signal_monitor.rules.explain import explain as run_explain
    from signal_monitor.rules.model import check_rules_file
    from signal_monitor.state.connect import DEFAULT_REDIS_URL
    from signal_monitor.state.redis import RedisState

    if bool(key) == bool(rule_id or scope or period):
        raise click.UsageError("give a DEDUP_KEY, or --rule with --period (and --scope for a scoped rule)")
    if rule_id and not period:
        raise click.UsageError("--rule needs --period")
    settings = _settings()
    ruleset, errors = check_rules_file(rules_path or settings.rules_path)
    routes, route_errors = check_routes_file(routes_path or settings.routes_path)
    for error in [*errors, *route_errors]:
        click.echo(str(error), err=True)
    if ruleset is None or routes is None:
        raise click.ClickException("the rule or routes file has errors: see above")
    target = None
    if rule_id:
        try:
            rule = ruleset.get(rule_id)
        except KeyError:
            raise click.BadParameter(f"unknown rule {rule_id!r}", param_hint="--rule") from None
        try:
            pairs = parse_scope(scope)
            day = date.fromisoformat(str(period))
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
        target = Target(rule, {**{k: v for k, v in rule.scope.items() if v != "*"}, **pairs}, day)

    async def run() -> dict[str, Any] | None:
        state = _open_state(settings)
        if not isinstance(state, RedisState):
            await state.close()
            raise click.ClickException(f"Redis does not answer at {redact_url(settings.redis_url or DEFAULT_REDIS_URL)} (REDIS_URL)")
        try:
            found, alert_json = (target, None) if target is not None else await find(state, ruleset, str(key))
            if found is None:
                return None
            return await run_explain(state, routes, found, alert_json=alert_json, now=time.time())
        finally:
            await state.close()

    report = asyncio.run(run())
    if report is None:
        raise click.ClickException(
            f"dedup key {key!r} is not among the recent alerts nor in the periods the rule states keep; "
            "give --rule, --scope and --period instead"
        )
    if as_json:
        click.echo(json.dumps(report, default=str))
        return
    _print_explanation(report)


def _print_explanation(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    where = ", ".join(f"{k}={v}" for k, v in sorted(report["scope"].items())) or "no scope"
    console.print(f"[bold]{report['rule']}[/] {where} {report['granularity']} {report['period']}  dedup key {report['dedup_key']}")
    alert = report["alert"]
    if alert:
        console.print(f"alert: {alert.get('text')}  (value {alert.get('value')}, threshold {alert.get('threshold')}, "
                      f"revision {alert.get('revision')}, fired at {alert.get('fired_at')})")
    else:
        console.print("alert: not among the recent alerts (the list keeps the last 200)")
    for check in report["checks"]:
        console.print(f"check {check['name']}: {check['kind']} over {check['metric']} {check['params']}")
    for sid, points in report["points"].items():
        table = Table(title=sid)
        table.add_column("period")
        table.add_column("value", justify="right")
        for p in points:
            style = "bold" if p["this"] else None
            table.add_row(p["period"] + (" ←" if p["this"] else ""), f"{p['value']:g}", style=style)
        if not points:
            table.add_row("(no points around the period)", "")
        console.print(table)
    state = report["state"]
    result = state["result"]
    if result is None:
        console.print(f"rule state: no result kept for {report['period']} (kept: {', '.join(state['kept_periods']) or 'none'})")
    else:
        console.print(f"rule state for {report['period']}: fired {result['fired']}, value {result['value']}, "
                      f"threshold {result['threshold']}, revision {result['revision']}"
                      + (", corrected" if result["corrected"] else ""))
        console.print(f"  memory before it: {result['memory_before']}")
    console.print(f"rule state now: last final period {state['last_final_period']}, memory {state['memory']}")
    console.print(f"cooldown: {report['cooldown']['said']}")
    delivery = report["delivery"]
    for r in delivery["receivers"]:
        extra = ", ".join(x for x in (r["digest"], r["realert"] and f"realert {r['realert']}") if x)
        console.print(f"route {r['route']!r} → receiver {r['receiver']!r}{f' ({extra})' if extra else ''}: {r['decided']}")
    for s in delivery["silences"]:
        covered = "covered the alert" if s["covered_the_alert"] else "did not cover the alert's time"
        console.print(f"silence {s['id']} ({s['reason']}) {s['from']} – {s['until']}: {covered}")
    if not delivery["silences"]:
        console.print("silences: none matching (silences are kept a week after they end)")
    for i in delivery["inhibition"]:
        if i["source"] is None:
            console.print(f"{i['inhibit']}: the alert is a target; no source alert recorded for its scope")
        else:
            covered = "muted it" if i["covered_the_alert"] else "was not active when it fired"
            console.print(f"{i['inhibit']}: source {i['source']} at {i['source_at']} {covered}")
    console.print("not kept: " + "; ".join(report["not_kept"]))
