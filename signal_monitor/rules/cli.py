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
