"""The ``rules`` command group: check and test rule files."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from signal_monitor.cli import main
from signal_monitor.config.settings import DEFAULT_RULES_PATH

TWO_BAD_RULES = """\
version: 1
rules:
  - id: hf_streak
    description: streak
    metric: net_buyng
    period: week
    scope: {fund_type: hedge_fund}
    kind: streak
    params: {condition: gt, min_count: 0}
  - id: vix_cross
    description: VIX below 17
    metric: close
    period: day
    scope: {symbol: VIX}
    kind: threshold_cross
    params: {direction: below, level: 17, rearm: 16}
  - id: hf_streak
    description: again
    metric: close
    period: day
    scope: {symbol: VIX}
    kind: extreme
    params: {side: low}
"""


def test_rules_check_of_the_shipped_file_says_ok() -> None:
    result = CliRunner().invoke(main, ["rules", "check", str(DEFAULT_RULES_PATH)])
    assert result.exit_code == 0, result.output
    assert "21 rules OK" in result.output


def test_rules_check_names_every_error_with_file_rule_and_field(tmp_path: Path) -> None:
    path = tmp_path / "desk.yaml"
    path.write_text(TWO_BAD_RULES)
    result = CliRunner().invoke(main, ["rules", "check", str(path), str(DEFAULT_RULES_PATH)])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith(str(path))]
    assert lines == [
        f"{path}, rule 'hf_streak', field 'metric': unknown metric 'net_buyng' (known: "
        + lines[0].split("(known: ", 1)[1],
        f"{path}, rule 'hf_streak', field 'params.min_count': Input should be greater than 0",
        f"{path}, rule 'vix_cross', field 'params.rearm': Value error, must be >= level (17.0) for a crossing below",
        f"{path}, rule 'hf_streak', field 'id': duplicate rule id (rule #1 has it too)",
    ]
    assert "21 rules OK" in result.output  # the good file is still checked
    assert "4 errors in 2 files" in result.output


def test_rules_check_of_a_missing_file_fails(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["rules", "check", str(tmp_path / "none.yaml")])
    assert result.exit_code == 1
    assert "cannot read the file" in result.output
