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


SHIPPED_TESTS = DEFAULT_RULES_PATH.parent / "rules.test.yaml"

FAILING_TEST = """\
rule_files: [{rules}]
tests:
  - name: a wrong text and a wrong day
    series:
      - {{metric: close, period: day, scope: {{symbol: VIX}}, start: 2025-06-02, values: "18.4 16.8 17.5 16.9 18.1 16.5"}}
    eval: [2025-06-03, 2025-06-04, 2025-06-05, 2025-06-06, 2025-06-09]
    rules: [vix_below_17]
    alerts:
      - rule: vix_below_17
        scope: {{symbol: VIX}}
        period: 2025-06-03
        text: "VIX closed below 17."
      - {{rule: vix_below_17, scope: {{symbol: VIX}}, period: 2025-06-05}}
"""


def test_rules_test_passes_on_the_shipped_test_file() -> None:
    result = CliRunner().invoke(main, ["rules", "test", str(SHIPPED_TESTS)])
    assert result.exit_code == 0, result.output
    assert result.output.count("PASS ") >= 5
    assert result.output.strip().endswith("passed, 0 failed")


def test_a_failing_rule_test_shows_expected_against_got(tmp_path: Path) -> None:
    path = tmp_path / "desk.test.yaml"
    path.write_text(FAILING_TEST.format(rules=DEFAULT_RULES_PATH))
    result = CliRunner().invoke(main, ["rules", "test", str(path)])
    assert result.exit_code == 1
    got = "The VIX closed at 16.80 on 2025-06-03, below 17 for the first time in the stored history."
    assert result.output.splitlines() == [
        f"FAIL {path}: a wrong text and a wrong day",
        "  expected:",
        "    2025-06-03 vix_below_17 {symbol=VIX}: 'VIX closed below 17.'",
        "    2025-06-05 vix_below_17 {symbol=VIX}",
        "  got:",
        f"    2025-06-03 vix_below_17 {{symbol=VIX}}: {got!r}",
        "    2025-06-09 vix_below_17 {symbol=VIX}: 'The VIX closed at 16.50 on 2025-06-09, below 17 for the first time since 2025-06-05.'",
        "  missing: 2025-06-05 vix_below_17 {symbol=VIX}",
        "  unexpected: 2025-06-09 vix_below_17 {symbol=VIX}",
        "  text of 2025-06-03 vix_below_17 {symbol=VIX}:",
        "    expected: 'VIX closed below 17.'",
        f"    got:      {got!r}",
        "1 tests: 0 passed, 1 failed",
    ]


def test_a_rule_test_naming_an_unknown_rule_is_an_error_naming_the_test(tmp_path: Path) -> None:
    path = tmp_path / "desk.test.yaml"
    path.write_text(FAILING_TEST.format(rules=DEFAULT_RULES_PATH).replace("rules: [vix_below_17]", "rules: [vix_below_16]"))
    result = CliRunner().invoke(main, ["rules", "test", str(path)])
    assert result.exit_code == 1
    assert f"ERROR {path}, test 'a wrong text and a wrong day', field 'rules.0': unknown rule 'vix_below_16'" in result.output


def test_select_alerts_filters_by_rule_scope_period_and_severity() -> None:
    from signal_monitor.rules.cli import select_alerts

    stored = [
        {"rule": "vix_below_17", "scope": {"symbol": "VIX"}, "period_end": "2025-06-06", "severity": "warning"},
        {"rule": "sector_net_buying_high", "scope": {"fund_type": "hedge_fund", "sector": "Energy"},
         "period_start": "2025-06-02", "period_end": "2025-06-06", "severity": "info"},
        {"rule": "sector_net_buying_high", "scope": {"fund_type": "hedge_fund", "sector": "Industrials"},
         "period_end": "2025-05-30", "severity": "info"},
    ]
    assert select_alerts(stored) == stored
    assert select_alerts(stored, rules=("vix_below_17",)) == stored[:1]
    assert select_alerts(stored, scope={"sector": "Energy"}) == stored[1:2]
    assert select_alerts(stored, period="2025-06-06") == stored[:2]
    assert select_alerts(stored, period="2025-06-02") == stored[1:2]  # a week's first day names it too
    assert select_alerts(stored, severities=("info",), period="2025-05-30") == stored[2:]
    assert select_alerts(stored, rules=("vix_below_17",), severities=("info",)) == []
