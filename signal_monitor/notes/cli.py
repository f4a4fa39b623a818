"""``signal-monitor note``: print the week's note from Redis."""

from __future__ import annotations

import sys
from datetime import date
from typing import Any

import click

from signal_monitor.notes.render import FORMATS


def _friday(_ctx: click.Context, _param: click.Parameter, value: str) -> date:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None
    if day.weekday() != 4:
        raise click.BadParameter(f"{value} is a {day:%A}: a week is named by its Friday (e.g. 2025-06-06)")
    return day


@click.command("note")
@click.option("--week", required=True, metavar="YYYY-MM-DD", callback=_friday, help="The week, named by its Friday.")
@click.option(
    "--format", "fmt", type=click.Choice(FORMATS), default="markdown", show_default=True, help="How the note prints."
)
@click.option("--json", "as_json", is_flag=True, help="The note as JSON (headline, sections, claims) instead.")
def note(week: date, fmt: str, as_json: bool) -> None:
    """Print the note of a week: headline, then its findings by section.

    The source is the note the workers stored for the week (SM_KEY_PREFIX:note:<week>): they
    compose it at the week's close from the week's final alerts, which they keep per week with
    the highest revision of each (so a correction has replaced what it corrects and a withdrawal
    has removed it), and compose it again on each correction. A week without a stored note (no
    weekly rule fired in it) is composed here from those kept alerts, with the rules of
    SM_RULES_PATH. Only when neither exists (alerts of workers older than the note) is it composed
    from the recent-alerts list, which 'alerts list' reads: that list is capped at the last
    RECENT_ALERTS_MAX alerts of every week and also holds provisional and superseded revisions,
    so it is a fallback, said so on stderr, not the truth of a week.
    """
    from signal_monitor.delivery.cli import _run, _settings

    settings = _settings()
    note_, source = _run(settings, lambda client: _load(client, settings, week))
    if note_ is None:
        raise click.ClickException(
            f"no note and no alerts of the week ending {week.isoformat()} under {settings.key_prefix}:* "
            "(has a worker closed that week?)"
        )
    if source != "stored":
        click.echo(f"note: no stored note of the week ending {week.isoformat()}; composed from {source}", err=True)
    if as_json:
        click.echo(note_.model_dump_json(indent=2))
        return
    from signal_monitor.notes.render import render

    sys.stdout.write(render(note_, fmt))


async def _load(client: Any, settings: Any, week: date) -> tuple[Any, str]:
    """Return (note, its source): the stored note, else composed from the week's kept alerts, else from the recent list."""
    from signal_monitor.notes.compose import compose
    from signal_monitor.notes.notebook import Notebook
    from signal_monitor.rules.alert import Alert
    from signal_monitor.state.redis import RedisState
    from signal_monitor.status.recent_alerts import RECENT_ALERTS_MAX, recent_alerts

    state = RedisState(client, prefix=settings.key_prefix, topic_prefix=settings.topic_prefix)
    notebook = Notebook(state, _rules(settings))
    stored = await notebook.stored(week)
    if stored is not None:
        return stored, "stored"
    if await state.note_alerts(week):
        return await notebook.compose(week), "the week's final alerts kept in Redis"
    alerts = []
    for record in await recent_alerts(client, settings.key_prefix, limit=RECENT_ALERTS_MAX):
        try:
            alerts.append(Alert.model_validate(record))
        except ValueError:
            continue
    if not any(a.period_end <= week and (week - a.period_end).days < 7 for a in alerts):
        return None, ""
    return compose(week, alerts, rules=notebook.rules), f"the recent-alerts list (the last {RECENT_ALERTS_MAX} alerts only)"


def _rules(settings: Any) -> Any:
    """Return the rule set of SM_RULES_PATH for the notes' sections; None (default sections) when it does not load."""
    from signal_monitor.errors import ConfigError
    from signal_monitor.rules.model import load_rules

    try:
        return load_rules(settings.rules_path)
    except ConfigError as exc:
        click.echo(f"note: the rules do not load ({exc}); every finding goes under Other signals", err=True)
        return None

