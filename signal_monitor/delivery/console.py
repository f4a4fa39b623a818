"""The console receiver: prints alerts with rich, so the monitor works with no Slack configured."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape

from signal_monitor.delivery.slack import LeaseCheck, Outcome, Sender, SlackMessage, alert_figures
from signal_monitor.rules.alert import Alert

STYLES = {"critical": "bold red", "warning": "bold yellow", "info": "bold cyan"}


def _scope(alert: Alert) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(alert.scope.items())) or "all"


class ConsoleSender(Sender):
    """Prints each message to a rich console (stdout unless given); always succeeds.

    The console keeps no record: ``confirm`` always says None.
    """

    kind = "console"

    def __init__(self, console: Console | None = None, *, pace: float = 0.0) -> None:
        self.console = console or Console(highlight=False, soft_wrap=True)
        self.pace = pace
        self.label = "console"

    def __repr__(self) -> str:
        """Name the receiver."""
        return f"ConsoleSender(pace={self.pace})"

    async def send(
        self,
        alerts: Sequence[Alert],
        *,
        outbox_id: str,
        title: str | None = None,
        lease: LeaseCheck | None = None,
        thread_ts: str | None = None,
    ) -> Outcome:
        """Print one alert, or a digest of several (``lease`` is not asked: each worker prints to its own console)."""
        if len(alerts) > 1:
            self.console.print(f"[bold]── {escape(title or f'{len(alerts)} alerts')} ──[/]")
        for alert in alerts:
            self.print_alert(alert)
        return Outcome.ok()

    async def post_note(
        self, message: SlackMessage, *, outbox_id: str, replace: tuple[str, str] | None = None,
        lease: LeaseCheck | None = None,
    ) -> Outcome:
        """Print the week's note (its plain text, carried in the message's fallback)."""
        self.console.print(escape(message.text))
        return Outcome.ok()

    def print_alert(self, alert: Alert) -> None:
        """Print one alert: severity, rule, scope and period, the text, then the numbers."""
        if alert.provisional:
            label = f"PROVISIONAL {alert.severity.upper()}" if alert.fired else "PROVISIONAL WITHDRAWN"
            style = "bold magenta" if alert.fired else "bold green"
        elif not alert.fired:
            label, style = "WITHDRAWN", "bold green"
        elif alert.correction:
            label, style = f"CORRECTION {alert.severity.upper()}", STYLES[alert.severity]
        else:
            label, style = alert.severity.upper(), STYLES[alert.severity]
        period = (
            alert.period_end.isoformat()
            if alert.period_start == alert.period_end
            else (f"{alert.period_start.isoformat()}–{alert.period_end.isoformat()}")
        )
        where = f"{escape(_scope(alert))} · {alert.granularity} {period}"
        self.console.print(f"[{style}]{label}[/] [bold]{escape(alert.rule)}[/] · {where}")
        body = alert.text if alert.fired or alert.provisional or alert.text else f"{alert.rule} no longer fires for {_scope(alert)}."
        self.console.print(f"  {escape(body)}")
        if alert.supersedes and alert.fired:
            self.console.print(f"  [dim]supersedes the provisional finding {escape(alert.supersedes)}[/]")
        figures = [f"{name} {text}" for name, text in alert_figures(alert)]
        self.console.print(f"  [dim]{escape(' · '.join(figures))}[/]")

    async def close(self) -> None:
        """Nothing to release."""
