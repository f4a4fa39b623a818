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
