"""The ``silence`` and ``outbox`` command groups (added to ``signal-monitor`` by the main CLI)."""

from __future__ import annotations

import asyncio
import getpass
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

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
    from signal_monitor.state.connect import DEFAULT_REDIS_URL, redis_answers, redis_client

    url = settings.redis_url or DEFAULT_REDIS_URL
    password = settings.redis_password.get_secret_value() if settings.redis_password else None
    if not redis_answers(url, timeout=2.0, password=password):
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
