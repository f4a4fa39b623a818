"""The ``silence``, ``outbox``, ``routes`` and ``slack`` command groups (added to ``signal-monitor`` by the main CLI)."""

from __future__ import annotations

import asyncio
import getpass
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import click
import redis.asyncio as aioredis
from rich.console import Console
from rich.table import Table

from signal_monitor.config.settings import Settings
from signal_monitor.delivery.keys import legacy_layout_present
from signal_monitor.delivery.outbox import Outbox
from signal_monitor.delivery.routing import format_duration, parse_duration
from signal_monitor.delivery.silences import Silence, SilenceStore, parse_scope
from signal_monitor.delivery.slack import hint
from signal_monitor.rules.alert import Alert

T = TypeVar("T")


def _settings() -> Settings:
    try:
        return Settings()
    except Exception as exc:  # pydantic's ValidationError names the field and the value's problem
        raise click.ClickException(f"invalid settings: {exc}") from None


def _run(settings: Settings, work: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
    """Connect to REDIS_URL (or 127.0.0.1:6379), run ``work``, close.

    When Redis still holds delivery state under the key names before the ``{delivery}`` hash tag (workers of
    an older version, or none started since the upgrade), a note on stderr says so: what is shown here is
    the state under the tag only.
    """
    from signal_monitor.redaction import redact_url
    from signal_monitor.state.connect import DEFAULT_REDIS_URL, redis_client, settings_redis_answers

    url = settings.redis_url or DEFAULT_REDIS_URL
    if not settings_redis_answers(settings, url, timeout=2.0):
        raise click.ClickException(f"Redis does not answer at {redact_url(url)} (REDIS_URL)")

    async def main() -> T:
        client = redis_client(settings.model_copy(update={"redis_url": url}))
        try:
            result = await work(client)
            if await legacy_layout_present(client, settings.key_prefix):
                click.echo(
                    "note: Redis also holds delivery state under the key names before the {delivery} hash tag "
                    "(workers of an older version); not shown here. A worker of this version moves it when it starts.",
                    err=True,
                )
            return result
        finally:
            await client.aclose()

    return asyncio.run(main())


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).astimezone().strftime("%Y-%m-%d %H:%M %Z")


def _silence_table(silences: list[Silence], now: float) -> Table:
    table = Table(title=f"silences: {sum(s.active(now) for s in silences)} active")
    for column in ("id", "rule", "scope", "ends", "reason", "by"):
        table.add_column(column)
    for s in silences:
        ends = f"in {format_duration(s.ends_at - now)}" if s.active(now) else f"expired {_when(s.ends_at)}"
        scope = ", ".join(f"{k}={v}" for k, v in sorted(s.scope.items())) or "any"
        table.add_row(s.id, s.rule, scope, ends, s.reason, s.created_by)
    return table


@click.group()
def silence() -> None:
    """Mute alerts of a rule (optionally of one scope) for a while."""


@silence.command("add")
@click.option("--rule", required=True, help="Rule id to mute ('*' for every rule).")
@click.option(
    "--scope", "scope", multiple=True, metavar="KEY=VALUE", help="Only alerts with this scope value (repeatable)."
)
@click.option("--for", "duration", required=True, metavar="DURATION", help="How long: 30m, 2h, 3d, 1h30m.")
@click.option("--reason", required=True, help="Why (shown in the status and in `silence list`).")
def silence_add(rule: str, scope: tuple[str, ...], duration: str, reason: str) -> None:
    """Add a silence; alerts it covers are not sent (they still go to the alerts topic)."""
    try:
        seconds = parse_duration(duration)
        pairs = parse_scope(scope)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if seconds <= 0:
        raise click.BadParameter("give a positive duration", param_hint="--for")
    settings = _settings()

    async def work(client: aioredis.Redis) -> Silence:
        store = SilenceStore(client, prefix=settings.key_prefix, clock=time.time)
        try:
            return await store.add(rule, duration=seconds, reason=reason, scope=pairs, created_by=getpass.getuser())
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None

    created = _run(settings, work)
    click.echo(f"silence {created.id}: {created.describe(time.time())}")


@silence.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include expired silences (kept a week).")
def silence_list(show_all: bool) -> None:
    """List active silences."""
    settings = _settings()

    async def work(client: aioredis.Redis) -> list[Silence]:
        store = SilenceStore(client, prefix=settings.key_prefix, clock=time.time)
        return await (store.all() if show_all else store.active())

    silences = _run(settings, work)
    Console().print(_silence_table(silences, time.time()))


@silence.command("expire")
@click.argument("silence_id")
def silence_expire(silence_id: str) -> None:
    """End a silence now."""
    settings = _settings()

    async def work(client: aioredis.Redis) -> Silence | None:
        return await SilenceStore(client, prefix=settings.key_prefix, clock=time.time).expire(silence_id)

    ended = _run(settings, work)
    if ended is None:
        raise click.ClickException(f"no silence {silence_id!r} (see `signal-monitor silence list --all`)")
    click.echo(f"silence {ended.id} ended: {ended.rule}")


@click.group()
def outbox() -> None:
    """Inspect the delivery outbox; requeue parked messages after fixing their cause."""


@outbox.command("status")
def outbox_status() -> None:
    """Show queued messages per receiver, parked messages and the counters."""
    settings = _settings()

    async def work(client: aioredis.Redis) -> tuple[dict[str, int], dict[str, int], int]:
        box = Outbox(client, prefix=settings.key_prefix)
        return await box.depths(), await box.counts(), await box.group_depth()

    depths, counts, grouped = _run(settings, work)
    console = Console()
    table = Table(title="outbox")
    table.add_column("receiver")
    table.add_column("queued", justify="right")
    for dest, depth in sorted(depths.items()):
        table.add_row(dest, str(depth))
    console.print(table)
    console.print(f"waiting in digests: {grouped}")
    console.print(", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "no counters yet")


@outbox.command("parked")
def outbox_parked() -> None:
    """List parked messages with the reason and what to fix."""
    settings = _settings()
    parked = _run(settings, lambda client: Outbox(client, prefix=settings.key_prefix).parked())
    table = Table(title=f"parked: {len(parked)}")
    for column in ("id", "receiver", "alerts", "reason", "parked", "fix"):
        table.add_column(column)
    for item in parked:
        rules = ", ".join(str(a.get("rule")) for a in item.message.get("alerts", []))
        table.add_row(
            item.id, str(item.message.get("dest", "")), rules, item.reason, _when(item.parked_at), hint(item.reason)
        )
    Console().print(table)


@outbox.command("requeue")
@click.argument("message_ids", nargs=-1)
@click.option("--all", "requeue_all", is_flag=True, help="Requeue every parked message.")
def outbox_requeue(message_ids: tuple[str, ...], requeue_all: bool) -> None:
    """Put parked messages back at the end of their receiver's queue."""
    if not message_ids and not requeue_all:
        raise click.UsageError("give message ids or --all")
    settings = _settings()

    async def work(client: aioredis.Redis) -> tuple[int, list[str]]:
        box = Outbox(client, prefix=settings.key_prefix)
        ids = [p.id for p in await box.parked()] if requeue_all else list(message_ids)
        done, missing = 0, []
        for ident in ids:
            if await box.requeue(ident):
                done += 1
            else:
                missing.append(ident)
        return done, missing

    done, missing = _run(settings, work)
    click.echo(f"requeued {done}")
    if missing:
        raise click.ClickException(f"not parked: {', '.join(missing)}")


@click.group()
def routes() -> None:
    """Check a routes file and see where an alert would go (like amtool's config routes)."""


@routes.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--rules", "rules_path", type=click.Path(dir_okay=False), default=None,
    help="The rule file whose ids the routes may name (default: SM_RULES_PATH).",
)
def routes_check(files: tuple[str, ...], rules_path: str | None) -> None:
    """Validate routes files: every error at once, each naming the file, the route and the field; exit 1 on any."""
    from signal_monitor.delivery.routing import check_routes_file
    from signal_monitor.rules.model import check_rules_file

    ruleset, rule_errors = check_rules_file(rules_path or _settings().rules_path)
    failed = 0
    for path in files:
        rule_ids = [rule.id for rule in ruleset] if ruleset is not None else None
        found, errors = check_routes_file(path, rule_ids=rule_ids)
        for error in errors:
            click.echo(str(error), err=True)
        failed += len(errors)
        if not errors and found is not None:
            walked = found.walk()
            note = "" if ruleset is not None else f" (rule ids not checked: {rule_errors[0]})"
            click.echo(
                f"{path}: OK, {len(found.receivers)} receivers, {len(walked)} routes, "
                f"{len(found.inhibit)} inhibit rules, {len(found.rules)} rule overrides{note}"
            )
    if failed:
        click.echo(f"{failed} error{'s' if failed != 1 else ''} in {len(files)} file{'s' if len(files) != 1 else ''}", err=True)
        sys.exit(1)


def probe_alert(labels: dict[str, str]) -> Alert:
    """Return an alert carrying ``labels`` as a route sees them: severity, rule, granularity, scope.<dim>, labels."""
    from datetime import UTC, date
    from datetime import datetime as dt

    from signal_monitor.delivery.routing import SEVERITIES

    severity = labels.get("severity", "info")
    if severity not in SEVERITIES:
        raise click.BadParameter(f"unknown severity {severity!r} (known: {', '.join(SEVERITIES)})", param_hint="--label")
    granularity = labels.get("granularity", "week")
    if granularity not in ("day", "week"):
        raise click.BadParameter(f"granularity is day or week, not {granularity!r}", param_hint="--label")
    scope = {k[6:]: v for k, v in labels.items() if k.startswith("scope.")}
    rest = {k: v for k, v in labels.items() if k not in ("severity", "rule", "granularity") and not k.startswith("scope.")}
    today = date.today()
    return Alert(
        rule=labels.get("rule", "routes_test"), scope=scope, granularity=granularity,  # type: ignore[arg-type]
        period_start=today, period_end=today, value=None, threshold=None, severity=severity,  # type: ignore[arg-type]
        labels=rest, dedup_key="routes-test", text="routes test", fired_at=dt.now(UTC),
    )


def _labels(values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r}: expected KEY=VALUE", param_hint="--label")
        out[key.strip()] = value.strip()
    return out


@routes.command("test")
@click.option(
    "--routes", "routes_path", type=click.Path(dir_okay=False), default=None,
    help="The routes file (default: SM_ROUTES_PATH, the shipped routes).",
)
@click.option(
    "--label", "labels", multiple=True, metavar="KEY=VALUE",
    help="severity, rule, granularity, scope.<dimension> or a rule label (repeatable).",
)
@click.option(
    "--expect", "expected", multiple=True, metavar="RECEIVER",
    help="Exit 1 unless exactly these receivers get the alert (repeatable), like amtool's --verify.receivers.",
)
@click.option("--json", "as_json", is_flag=True, help="The routes and receivers as JSON.")
def routes_test(routes_path: str | None, labels: tuple[str, ...], expected: tuple[str, ...], as_json: bool) -> None:
    """Show which routes and receivers an alert with these labels goes to, and with which noise settings."""
    import json

    from signal_monitor.delivery.routing import check_routes_file

    found, errors = check_routes_file(routes_path or _settings().routes_path)
    if errors:
        for error in errors:
            click.echo(str(error), err=True)
        raise click.ClickException(f"the routes file has {len(errors)} error(s): see above")
    assert found is not None
    given = _labels(labels)
    alert = probe_alert(given)
    matched = found.match(alert)
    receivers = sorted({route.receiver for route in matched})
    rows = []
    for route in matched:
        receiver = found.receivers[route.receiver]
        noise = found.noise(route, alert)
        target = receiver.channel or (f"${receiver.webhook_url_env}" if receiver.webhook_url_env else None)
        rows.append({
            "route": route.name, "receiver": receiver.name, "type": receiver.type, "target": target,
            "group_wait": format_duration(noise.group_wait), "group_max": noise.group_max,
            "realert": format_duration(noise.realert), "resolved": noise.resolved,
        })
    mutes = [i for i, rule in enumerate(found.inhibit) if rule.target.matches(alert)]
    sources = [i for i, rule in enumerate(found.inhibit) if rule.source.matches(alert)]
    if as_json:
        click.echo(json.dumps({"labels": given, "routes": rows, "receivers": receivers,
                               "inhibited_by": [f"inhibit[{i}]" for i in mutes],
                               "inhibits": [f"inhibit[{i}]" for i in sources]}))
    else:
        if "severity" not in given:
            click.echo("note: no severity label given; tested as severity=info", err=True)
        table = Table(title=f"{found.path}: {', '.join(f'{k}={v}' for k, v in given.items()) or 'no labels'}")
        for column in ("route", "receiver", "type", "target", "group_wait", "realert", "resolved"):
            table.add_column(column)
        for row in rows:
            table.add_row(*(str(row[c]) if row[c] is not None else "" for c in
                            ("route", "receiver", "type", "target", "group_wait", "realert", "resolved")))
        Console().print(table)
        for i in mutes:
            click.echo(f"muted while an alert matching inhibit[{i}]'s source is recent (equal on {', '.join(found.inhibit[i].equal)})")
        for i in sources:
            click.echo(f"mutes the targets of inhibit[{i}] for {format_duration(found.inhibit[i].duration)}")
        click.echo(" ".join(receivers))
    if expected and sorted(set(expected)) != receivers:
        click.echo(f"expected receivers {', '.join(sorted(set(expected)))}; got {', '.join(receivers)}", err=True)
        sys.exit(1)


@click.group()
def slack() -> None:
    """Check the Slack set-up."""


@slack.command("test")
@click.option(
    "--routes", "routes_path", type=click.Path(dir_okay=False), default=None,
    help="The routes file (default: SM_ROUTES_PATH, the shipped routes).",
)
@click.option("--receiver", "receiver_name", default=None, help="The receiver to try (default: the root route's).")
@click.option("--text", default=None, help="The message (default: a line naming this host and the time).")
def slack_test(routes_path: str | None, receiver_name: str | None, text: str | None) -> None:
    """Send one test message through a receiver, straight away (not through the outbox); secrets are never printed."""
    import socket
    from datetime import UTC
    from datetime import datetime as dt

    from signal_monitor.delivery.dispatcher import DeliveryOptions, SlackDefaults, build_sender
    from signal_monitor.delivery.routing import check_routes_file
    from signal_monitor.errors import RouteFileError

    settings = _settings()
    found, errors = check_routes_file(routes_path or settings.routes_path)
    if errors:
        for error in errors:
            click.echo(str(error), err=True)
        raise click.ClickException(f"the routes file has {len(errors)} error(s): see above")
    assert found is not None
    name = receiver_name or found.root.receiver
    receiver = found.receivers.get(name)
    if receiver is None:
        raise click.BadParameter(f"no receiver {name!r} (known: {', '.join(sorted(found.receivers))})",
                                 param_hint="--receiver")
    try:
        sender = build_sender(receiver, slack=SlackDefaults.from_settings(settings),
                              options=DeliveryOptions.from_settings(settings), path=found.path)
    except RouteFileError as exc:
        raise click.ClickException(str(exc)) from None
    now = dt.now(UTC)
    alert = probe_alert({"rule": "slack_test", "severity": "info", "granularity": "day"}).model_copy(update={
        "text": text or f"signal-monitor test message from {socket.gethostname()} at {now:%Y-%m-%d %H:%M:%S} UTC: "
                        f"receiver {name!r} works.",
        "dedup_key": f"slack-test-{now:%Y%m%d%H%M%S}",
    })
    if sender.kind == "console":
        click.echo(f"note: receiver {name!r} is the console: Slack is not configured "
                   "(SLACK_WEBHOOK_URL, or SLACK_BOT_TOKEN + SLACK_CHANNEL)", err=True)

    async def send() -> Any:
        try:
            return await sender.send([alert], outbox_id=alert.dedup_key)
        finally:
            await sender.close()

    outcome = asyncio.run(send())
    if outcome.kind == "ok":
        click.echo(f"sent to {sender.label} (receiver {name!r})")
        return
    detail = f" ({outcome.detail})" if outcome.detail else ""
    click.echo(f"not sent to {sender.label}: {outcome.kind} {outcome.reason}{detail}", err=True)
    fix = hint(outcome.reason)
    if fix:
        click.echo(f"fix: {fix}", err=True)
    sys.exit(1)
