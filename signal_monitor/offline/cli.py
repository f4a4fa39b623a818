"""The offline commands' shared input options, and ``backtest`` (added to ``signal-monitor`` by the main CLI).

``replay`` and ``backtest`` read the same files, spelled as ``backfill`` spells them: a CBOE daily file is
``--closes SYMBOL=PATH`` (repeatable); event files are ``--quotes``, ``--trades``, ``--exposures``,
``--observations`` (JSONL). The older ``--quotes PATH --format cboe --symbol S`` still works, with a note.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])
Inputs = list[tuple[str, Iterator[tuple[float, bytes]]]]


def parse_closes(ctx: click.Context | None, param: click.Parameter | None, values: tuple[str, ...]) -> list[tuple[str, str]]:
    """Return ``(symbol, path)`` pairs of ``SYMBOL=PATH`` values; the path must be a file."""
    pairs = []
    for item in values:
        symbol, sep, path = item.partition("=")
        if not sep or not symbol or not path:
            raise click.BadParameter(f"{item!r}: expected SYMBOL=PATH (e.g. VIX=data/vix-daily.csv)")
        if not Path(path).is_file():
            raise click.BadParameter(f"{path!r}: no such file")
        pairs.append((symbol, path))
    return pairs


def input_options(fn: F) -> F:
    """Add the input options of ``replay`` and ``backtest`` to a command."""
    existing = click.Path(exists=True, dir_okay=False)
    options = [
        click.option(
            "--closes", "closes", multiple=True, metavar="SYMBOL=PATH", callback=parse_closes,
            help="Daily closes, CBOE format (repeatable), as backfill reads them.",
        ),
        click.option("--quotes", type=existing, help="Quote events (JSONL)."),
        click.option(
            "--format", "quotes_format", type=click.Choice(["jsonl", "cboe"]), default="jsonl", show_default=True,
            help="Deprecated: --quotes FILE --format cboe is --closes SYMBOL=FILE.",
        ),
        click.option("--symbol", default="VIX", show_default=True, help="Deprecated: the symbol of --format cboe."),
        click.option("--trades", type=existing, help="Trade events (JSONL)."),
        click.option("--exposures", type=existing, help="Exposure events (JSONL)."),
        click.option("--observations", type=existing, help="Observation events (JSONL)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def gather_inputs(
    *,
    closes: list[tuple[str, str]],
    quotes: str | None,
    quotes_format: str,
    symbol: str,
    trades: str | None,
    exposures: str | None,
    observations: str | None,
) -> Inputs:
    """Return the ``(kind, events)`` inputs of a replay from the input options (a usage error when none)."""
    from signal_monitor.offline.replay import cboe_quotes, jsonl_events

    inputs: Inputs = [("quotes", cboe_quotes(Path(path), sym)) for sym, path in closes]
    if quotes and quotes_format == "cboe":
        click.echo(
            f"note: --quotes FILE --format cboe is deprecated; write --closes {symbol}={quotes} (as backfill does)",
            err=True,
        )
        inputs.append(("quotes", cboe_quotes(Path(quotes), symbol)))
    elif quotes:
        inputs.append(("quotes", jsonl_events(Path(quotes))))
    for kind, path in (("trades", trades), ("exposures", exposures), ("observations", observations)):
        if path:
            inputs.append((kind, jsonl_events(Path(path))))
    if not inputs:
        raise click.UsageError("give at least one of --closes, --quotes, --trades, --exposures, --observations")
    return inputs


def _day(ctx: click.Context, param: click.Parameter, value: datetime | None) -> date | None:
    return value.date() if value is not None else None


@click.command()
@input_options
@click.option(
    "--rules", "rules_path", type=click.Path(dir_okay=False), default=None,
    help="The rule file (default: SM_RULES_PATH, the shipped rules).",
)
@click.option("--rule", "rule_ids", multiple=True, metavar="ID", help="Only this rule (repeatable; default: all).")
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), callback=_day, help="First period counted (YYYY-MM-DD).")
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), callback=_day, help="Last period counted (YYYY-MM-DD).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object: counts per rule and year, and the alerts.")
@click.option("--list/--no-list", "show_list", default=True, show_default=True, help="List the alerts after the counts.")
def backtest(
    closes: list[tuple[str, str]], quotes: str | None, quotes_format: str, symbol: str, trades: str | None,
    exposures: str | None, observations: str | None, rules_path: str | None, rule_ids: tuple[str, ...],
    start: date | None, end: date | None, as_json: bool, show_list: bool,
) -> None:
    """How often rules would have fired over history: counts per rule per year, and the alerts.

    The files go through the live pipeline in memory (as replay does); history before --from is read
    as context, only alerts of periods from --from to --to are counted.
    """
    from signal_monitor.cli_support import settings_or_exit as _settings
    from signal_monitor.offline.backtest import Span, tally, until
    from signal_monitor.offline.replay import replay
    from signal_monitor.rules.engine import RuleEngine
    from signal_monitor.rules.model import check_rules_file
    from signal_monitor.state.memory import MemoryState

    if start and end and start > end:
        raise click.BadParameter("--from is after --to", param_hint="--from")
    settings = _settings()
    ruleset, errors = check_rules_file(rules_path or settings.rules_path)
    if errors:
        for error in errors:
            click.echo(str(error), err=True)
        raise click.ClickException(f"the rule file has {len(errors)} error(s): see above")
    assert ruleset is not None
    known = [rule.id for rule in ruleset]
    unknown = [rid for rid in rule_ids if rid not in known]
    if unknown:
        raise click.BadParameter(f"unknown rule {unknown[0]!r} (known: {', '.join(known)})", param_hint="--rule")
    chosen = [r for r in ruleset if not rule_ids or r.id in rule_ids]
    span = Span()
    inputs = [
        (kind, until(span.track(events), end))
        for kind, events in gather_inputs(
            closes=closes, quotes=quotes, quotes_format=quotes_format, symbol=symbol, trades=trades,
            exposures=exposures, observations=observations,
        )
    ]
    if logging.getLogger().level > logging.DEBUG:
        logging.getLogger("signal_monitor.agents.closer").setLevel(logging.WARNING)

    async def run() -> list[Any]:
        state = MemoryState()
        try:
            summary = await replay(
                state, inputs, evaluator=RuleEngine(chosen, state), lateness_s=settings.lateness_days * 86400,
                grace_s=settings.close_grace_s, max_message_bytes=settings.max_message_bytes,
            )
        finally:
            await state.close()
        if summary.dead_letters:
            click.echo(f"note: {len(summary.dead_letters)} input rows were rejected (dead letters)", err=True)
        return summary.alerts

    alerts = asyncio.run(run())
    report = tally(alerts, [r.id for r in chosen], start=start, end=end)
    days = span.days()  # the years listed: those of the data, within --from .. --to
    if days is not None:
        report.start = max(start, days[0]) if start else days[0]
        report.end = min(end, days[1]) if end else days[1]
    if as_json:
        click.echo(json.dumps(report.as_json()))
        return
    _print_report(report, show_list=show_list)


def _print_report(report: Any, *, show_list: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    span = f"{report.start} to {report.end}" if report.start else "no data"
    table = Table(title=f"alerts per year, {span}")
    table.add_column("year")
    for rule in report.rules:
        table.add_column(rule, justify="right")
    for year in report.years:
        table.add_row(str(year), *(str(report.per_year.get(rule, {}).get(year, 0)) for rule in report.rules))
    table.add_section()
    table.add_row("total", *(str(report.total(rule)) for rule in report.rules), style="bold")
    console.print(table)
    if not show_list or not report.alerts:
        return
    listing = Table(title=f"{len(report.alerts)} alerts")
    for col in ("period", "rule", "scope", "value", "text"):
        listing.add_column(col, overflow="fold")
    for alert in report.alerts:
        scope = ", ".join(f"{k}={v}" for k, v in sorted(alert.scope.items()))
        value = "" if alert.value is None else f"{alert.value:g}"
        listing.add_row(alert.period_end.isoformat(), alert.rule, scope, value, alert.text)
    console.print(listing)
