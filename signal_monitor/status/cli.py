"""``signal-monitor status``: the latest record of every worker, flagged, as a table or JSON."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timezone

import click
from rich.console import Console

from signal_monitor.config.settings import Settings
from signal_monitor.status.reader import StatusReadError, StatusSnapshot, read_status
from signal_monitor.status.record import StatusRecord
from signal_monitor.status.view import Assessment, as_json, assess, render

Reader = Callable[[Settings], StatusSnapshot]


def _settings() -> Settings:
    try:
        return Settings()
    except Exception as exc:  # pydantic's ValidationError names the field and the value's problem
        raise click.ClickException(f"invalid settings: {exc}") from None


def _read(reader: Reader, settings: Settings) -> StatusSnapshot:
    try:
        return reader(settings)
    except StatusReadError as exc:
        raise click.ClickException(str(exc)) from None


def watch_previous(previous: dict[str, StatusRecord], seen: dict[str, StatusRecord], snap: StatusSnapshot) -> None:
    """Remember, per worker, the record shown before its latest one (for ``--watch``'s lag trend)."""
    for wid, record in snap.latest.items():
        old = seen.get(wid)
        if old is not None and old.published < record.published:
            previous[wid] = old
        seen[wid] = record


def run_status(
    settings: Settings,
    *,
    as_json_output: bool,
    watch: bool,
    interval: float,
    console: Console,
    reader: Reader = read_status,
    echo: Callable[[str], None] = click.echo,
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    rounds: int | None = None,
) -> Assessment:
    """Read, assess and print the status once, or every ``interval`` seconds with ``watch``; return the last assessment."""
    previous: dict[str, StatusRecord] = {}
    seen: dict[str, StatusRecord] = {}
    done = 0
    while True:
        snap = _read(reader, settings)
        watch_previous(previous, seen, snap)
        assessment = assess(snap, now(), previous)
        if as_json_output:
            echo(json.dumps(as_json(assessment), indent=None if watch else 2))
        else:
            if watch:
                console.clear()
                console.print(f"[dim]{settings.topic('status')} at {assessment.now:%Y-%m-%d %H:%M:%S} UTC, "
                              f"every {interval:g} s (Ctrl-C to stop)[/]")
            console.print(render(assessment))
        done += 1
        if not watch or (rounds is not None and done >= rounds):
            return assessment
        time.sleep(interval)


@click.command("status")
@click.option("--json", "as_json_output", is_flag=True, help="Print JSON (one object per refresh with --watch).")
@click.option("--watch", is_flag=True, help="Refresh until interrupted.")
@click.option("--interval", type=click.FloatRange(min=0.5), default=None,
              help="Seconds between refreshes with --watch (default: SM_STATUS_INTERVAL_S).")
def status(as_json_output: bool, watch: bool, interval: float | None) -> None:
    """Show every worker's latest status record, flagging stale workers, growing lag and silent feeds."""
    settings = _settings()
    if not settings.kafka_bootstrap:
        raise click.ClickException("KAFKA_BOOTSTRAP must be set to read the status topic")
    console = Console()
    try:
        run_status(settings, as_json_output=as_json_output, watch=watch,
                   interval=interval or settings.status_interval_s, console=console)
    except KeyboardInterrupt:
        pass
