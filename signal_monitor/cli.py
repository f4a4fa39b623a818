"""The ``signal-monitor`` command line."""

from __future__ import annotations

import logging
import sys

import click

from signal_monitor.config.settings import Settings
from signal_monitor.errors import ConfigError, SignalMonitorError
from signal_monitor.cli_support import open_state as _open_state
from signal_monitor.cli_support import settings_or_exit as _settings
from signal_monitor.offline.cli import gather_inputs, input_options


LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


@click.group()
@click.version_option(package_name="signal-monitor", prog_name="signal-monitor")
@click.option(
    "--log-level", type=click.Choice(LOG_LEVELS, case_sensitive=False), default="info", show_default=True,
    help="How much the log says.",
)
@click.pass_context
def main(ctx: click.Context, log_level: str) -> None:
    """Streaming monitor of sector flows, leverage and volatility signals."""
    log_level = log_level.lower()
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.obj = {"log_level": log_level}


@main.command()
@click.pass_context
def worker(ctx: click.Context) -> None:
    """Run a worker: consume the input topics, keep the state, close periods, fire alerts."""
    from signal_monitor.app import run_worker
    from signal_monitor.streams.topics import ensure_topics

    settings = _settings()
    # a bad rule file stops start-up before anything connects; the worker runs on the rules parsed here
    rules = _load_rules_or_exit(settings) if settings.rules_enabled else None
    if not settings.kafka_bootstrap or not settings.redis_url:
        raise click.ClickException("KAFKA_BOOTSTRAP and REDIS_URL must be set for a worker (make demo starts embedded ones)")
    try:
        ensure_topics(settings)
        run_worker(settings, loglevel=ctx.obj["log_level"], rules=rules)
    except ConfigError as exc:
        click.echo(f"signal-monitor: {exc}", err=True)
        sys.exit(2)
    except SignalMonitorError as exc:
        raise click.ClickException(str(exc)) from None


def _register_subcommands() -> None:
    from signal_monitor.delivery.cli import outbox, routes, silence, slack
    from signal_monitor.notes.cli import note
    from signal_monitor.offline.cli import backtest
    from signal_monitor.rules.cli import alerts, explain, rules
    from signal_monitor.status.cli import status

    main.add_command(status)
    main.add_command(silence)
    main.add_command(outbox)
    main.add_command(rules)
    main.add_command(alerts)
    main.add_command(explain)
    main.add_command(routes)
    main.add_command(slack)
    main.add_command(backtest)
    main.add_command(note)


@main.command("create-topics")
def create_topics() -> None:
    """Create the monitor's topics on the configured broker."""
    from signal_monitor.streams.topics import ensure_topics

    created = ensure_topics(_settings())
    click.echo(f"created: {', '.join(created) or 'none (all exist)'}")


def _load_rules_or_exit(settings: Settings):  # type: ignore[no-untyped-def]
    from signal_monitor.rules.model import load_rules

    try:
        return load_rules(settings.rules_path)
    except ConfigError as exc:
        click.echo(f"signal-monitor: {exc}", err=True)
        sys.exit(2)


@main.command()
@click.option("--closes", "closes", multiple=True, metavar="SYMBOL=PATH", help="Daily closes, CBOE format (repeatable).")
@click.option("--flows", multiple=True, type=click.Path(exists=True, dir_okay=False), help="Weekly flow aggregates.")
@click.option("--exposures", multiple=True, type=click.Path(exists=True, dir_okay=False), help="Daily exposure aggregates.")
@click.option("--observations", multiple=True, type=click.Path(exists=True, dir_okay=False), help="Observation series.")
def backfill(closes: tuple[str, ...], flows: tuple[str, ...], exposures: tuple[str, ...], observations: tuple[str, ...]) -> None:
    """Load history into Redis so percentiles and "highest since" work from day one (idempotent)."""
    import asyncio

    from signal_monitor.offline.backfill import BackfillError
    from signal_monitor.offline.backfill import backfill as run_backfill
    from signal_monitor.state.redis import RedisState

    settings = _settings()
    pairs = []
    for item in closes:
        symbol, sep, path = item.partition("=")
        if not sep or not symbol or not path:
            raise click.BadParameter(f"{item!r}: expected SYMBOL=PATH", param_hint="--closes")
        pairs.append((path, symbol))

    async def run() -> None:
        state = _open_state(settings)
        if not isinstance(state, RedisState):
            raise click.ClickException("Redis does not answer at REDIS_URL: backfill needs it")
        try:
            summary = await run_backfill(
                state, closes=pairs, flows=flows, exposures=exposures, observations=observations, progress=True
            )
        except BackfillError as exc:
            raise click.ClickException(str(exc)) from None
        finally:
            await state.close()
        click.echo(str(summary))

    asyncio.run(run())


@main.command()
@input_options
@click.option(
    "--rules", "rules_path", type=click.Path(exists=True, dir_okay=False), default=None,
    help="The rule file (default: SM_RULES_PATH, the shipped rules).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON alert per line instead of a table.")
@click.option("--memory", is_flag=True, help="Keep the state in memory even when Redis answers.")
@click.option("--deliver", is_flag=True, help="Send what fires through the configured receivers (the outbox path).")
@click.option("--deliver-timeout", type=float, default=600.0, show_default=True, help="Longest wait for delivery.")
def replay(closes: list[tuple[str, str]], quotes: str | None, quotes_format: str, symbol: str, trades: str | None,
           exposures: str | None, observations: str | None, rules_path: str | None, as_json: bool, memory: bool,
           deliver: bool, deliver_timeout: float) -> None:
    """Run the rules over event files in-process (no broker) and print the alerts they fire."""
    import asyncio
    import uuid

    from signal_monitor.offline.replay import replay as run_replay
    from signal_monitor.rules.engine import RuleEngine
    from signal_monitor.state.redis import RedisState

    from pathlib import Path

    settings = _settings()
    if rules_path:
        settings = settings.model_copy(update={"rules_path": Path(rules_path)})
    rules = _load_rules_or_exit(settings)
    if logging.getLogger().level > logging.DEBUG:
        logging.getLogger("signal_monitor.agents.closer").setLevel(logging.WARNING)
    inputs = gather_inputs(
        closes=closes, quotes=quotes, quotes_format=quotes_format, symbol=symbol, trades=trades,
        exposures=exposures, observations=observations,
    )

    async def run() -> None:
        # a replay never touches live state: its own key prefix, removed afterwards
        prefix = f"{settings.key_prefix}-replay-{uuid.uuid4().hex[:8]}"
        state = _open_state(settings, prefix=prefix, memory=memory)
        try:
            summary = await run_replay(
                state, inputs, evaluator=RuleEngine(rules, state), lateness_s=settings.lateness_days * 86400,
                grace_s=settings.close_grace_s, max_message_bytes=settings.max_message_bytes,
            )
        finally:
            if isinstance(state, RedisState):
                keys = [k async for k in state.client.scan_iter(match=f"{prefix}*", count=1000)]
                for i in range(0, len(keys), 500):
                    await state.client.unlink(*keys[i : i + 500])
            await state.close()
        _print_replay(summary, as_json=as_json)
        if deliver:
            await _deliver(settings, summary.alerts, timeout=deliver_timeout)

    asyncio.run(run())


async def _deliver(settings: Settings, alerts: list, *, timeout: float) -> None:  # type: ignore[type-arg]
    """Send replayed alerts through the configured routes and receivers, by the outbox in Redis."""
    from signal_monitor.app import build_dispatcher
    from signal_monitor.state.connect import DEFAULT_REDIS_URL, redis_client, settings_redis_answers

    url = settings.redis_url or DEFAULT_REDIS_URL
    if not settings_redis_answers(settings, url):
        raise click.ClickException("--deliver needs Redis (the outbox) at REDIS_URL")
    client = redis_client(settings.model_copy(update={"redis_url": url}))
    dispatcher = build_dispatcher(client, settings, worker_id="replay")
    try:
        await dispatcher.submit(alerts)
        if not await dispatcher.drain(timeout):
            raise click.ClickException(f"delivery did not finish within {timeout:g} s; the rest stays in the outbox")
        stats = await dispatcher.refresh_stats()
        click.echo(f"delivered: sent {stats.get('sent', 0)}, parked {stats.get('parked', 0)}", err=True)
    finally:
        await dispatcher.close()
        await client.aclose()


def _print_replay(summary, *, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    from rich.console import Console
    from rich.table import Table

    if as_json:
        for alert in summary.alerts:
            click.echo(alert.model_dump_json())
        return
    console = Console()
    table = Table(title=f"{len(summary.alerts)} alerts", show_lines=False)
    for col in ("period", "rule", "severity", "text"):
        table.add_column(col, overflow="fold")
    for alert in summary.alerts:
        table.add_row(alert.period_end.isoformat(), alert.rule, alert.severity, alert.text)
    console.print(table)
    events = ", ".join(f"{k} {v}" for k, v in summary.events.items())
    console.print(
        f"events: {events or 'none'}; closed {summary.closed_days} days and {summary.closed_weeks} weeks; "
        f"dead letters: {len(summary.dead_letters)}"
    )


@main.command()
@click.option("--workdir", type=click.Path(file_okay=False), default=".run/demo", show_default=True)
@click.option("--vix-csv", type=click.Path(exists=True, dir_okay=False), default=None, help="CBOE VIX daily history.")
def demo(workdir: str, vix_csv: str | None) -> None:
    """Run the note's week end to end: embedded broker and Redis, backfill, stream, worker, alerts."""
    from pathlib import Path

    from signal_monitor.offline.demo import DEFAULT_VIX_CSV, run_demo

    logging.getLogger().setLevel(logging.WARNING)
    try:
        run_demo(_settings(), workdir=Path(workdir), vix_csv=Path(vix_csv) if vix_csv else DEFAULT_VIX_CSV)
    except (RuntimeError, SignalMonitorError) as exc:
        raise click.ClickException(str(exc)) from None


@main.command("simulate")
@click.option("--out", type=click.Path(file_okay=False), default=".run/simulated", show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--vix-csv", type=click.Path(exists=True, dir_okay=False), default=None, help="CBOE VIX daily history.")
def simulate_cmd(out: str, seed: int, vix_csv: str | None) -> None:
    """Generate the seeded data set of the note's week: history files for backfill and event files to stream."""
    from pathlib import Path

    from signal_monitor.offline.demo import DEFAULT_VIX_CSV
    from signal_monitor.offline.simulate import simulate

    manifest = simulate(Path(out), seed=seed, vix_csv=Path(vix_csv) if vix_csv else DEFAULT_VIX_CSV)
    click.echo(f"wrote {manifest.root}/manifest.json")
    for name, n in manifest.counts.items():
        click.echo(f"  {name}: {n}")


_register_subcommands()
