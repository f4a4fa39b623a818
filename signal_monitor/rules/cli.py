"""The ``rules`` command group: check rule files and run a desk's rule tests (like promtool's check and test rules)."""

from __future__ import annotations

import sys
from collections import Counter

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
