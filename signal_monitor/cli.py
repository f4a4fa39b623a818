"""The ``signal-monitor`` command line."""

from __future__ import annotations

import logging
import sys

import click

from signal_monitor.config.settings import Settings
from signal_monitor.errors import ConfigError, SignalMonitorError


def _settings() -> Settings:
    try:
        return Settings()
    except Exception as exc:  # pydantic's ValidationError names the field and the value's problem
        raise click.ClickException(f"invalid settings: {exc}") from None


@click.group()
@click.option("--log-level", default="info", show_default=True, help="debug, info, warning or error.")
@click.pass_context
def main(ctx: click.Context, log_level: str) -> None:
    """Streaming monitor of sector flows, leverage and volatility signals."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.obj = {"log_level": log_level}


@main.command()
@click.pass_context
def worker(ctx: click.Context) -> None:
    """Run a worker: consume the input topics, keep the state, close periods, fire alerts."""
    from signal_monitor.app import run_worker
    from signal_monitor.streams.topics import ensure_topics

    settings = _settings()
    if not settings.kafka_bootstrap or not settings.redis_url:
        raise click.ClickException("KAFKA_BOOTSTRAP and REDIS_URL must be set for a worker (make demo starts embedded ones)")
    try:
        ensure_topics(settings)
        run_worker(settings, loglevel=ctx.obj["log_level"])
    except ConfigError as exc:
        click.echo(f"signal-monitor: {exc}", err=True)
        sys.exit(2)
    except SignalMonitorError as exc:
        raise click.ClickException(str(exc)) from None


@main.command("create-topics")
def create_topics() -> None:
    """Create the monitor's topics on the configured broker."""
    from signal_monitor.streams.topics import ensure_topics

    created = ensure_topics(_settings())
    click.echo(f"created: {', '.join(created) or 'none (all exist)'}")
