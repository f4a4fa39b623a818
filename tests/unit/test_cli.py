"""The command line: start-up checks that need no broker."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from signal_monitor.cli import main

BAD_RULES = """\
version: 1
rules:
  - id: hf_net_buying_streak
    description: streak
    metric: net_buying
    period: week
    scope: {fund_type: hedge_fund}
    kind: streak
    params: {condition: gt, level: 0, min_count: 0}
    severity: info
"""


def test_worker_with_an_invalid_rule_file_stops_naming_file_rule_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "desk-rules.yaml"
    path.write_text(BAD_RULES)
    monkeypatch.setenv("SM_RULES_PATH", str(path))
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "127.0.0.1:1")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    result = CliRunner().invoke(main, ["worker"])
    assert result.exit_code == 2
    assert "desk-rules.yaml" in result.output
    assert "hf_net_buying_streak" in result.output
    assert "params.min_count" in result.output


@pytest.mark.parametrize("enabled", [True, False])
def test_worker_runs_on_the_rules_it_checked_at_start_up(monkeypatch: pytest.MonkeyPatch, enabled: bool) -> None:
    import signal_monitor.app as app_module
    import signal_monitor.streams.topics as topics_module
    from signal_monitor.config.settings import DEFAULT_RULES_PATH
    from signal_monitor.rules.model import RuleSet, load_rules

    handed: dict[str, object] = {}
    monkeypatch.setattr(topics_module, "ensure_topics", lambda settings: [])
    monkeypatch.setattr(app_module, "run_worker", lambda settings, *, loglevel, rules: handed.update(rules=rules))
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "127.0.0.1:1")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.delenv("SM_RULES_PATH", raising=False)
    monkeypatch.setenv("SM_RULES_ENABLED", "true" if enabled else "false")
    result = CliRunner().invoke(main, ["worker"])
    assert result.exit_code == 0, result.output
    if enabled:
        assert isinstance(handed["rules"], RuleSet) and len(handed["rules"]) == len(load_rules(DEFAULT_RULES_PATH))
    else:
        assert handed == {"rules": None}


def test_worker_without_connections_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    result = CliRunner().invoke(main, ["worker"])
    assert result.exit_code != 0
    assert "KAFKA_BOOTSTRAP" in result.output


def test_replay_of_the_real_vix_history_around_the_note_week(tmp_path: Path) -> None:
    source = Path(__file__).resolve().parents[2] / "data" / "vix-daily.csv"
    rows = [line for line in source.read_text().splitlines() if line.startswith(("DATE", "2024-", "2025-"))]
    excerpt = tmp_path / "vix.csv"
    excerpt.write_text("\n".join(rows) + "\n")
    result = CliRunner().invoke(main, ["replay", "--quotes", str(excerpt), "--format", "cboe", "--symbol", "VIX", "--json", "--memory"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("{")]
    import json

    alerts = [json.loads(line) for line in lines]
    june6 = {a["rule"]: a for a in alerts if a["period_end"] == "2025-06-06"}
    # the real closes: 16.77 on 2025-06-06; the last close below 17 before it was 15.66 on 2025-02-20
    assert june6["vix_below_17"]["value"] == pytest.approx(16.77)
    assert june6["vix_below_17"]["context"]["since"] == "2025-02-20"
    assert june6["vix_low_since"]["context"]["since"] == "2025-02-20"


def test_version_prints_the_package_version() -> None:
    from importlib.metadata import version

    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"signal-monitor, version {version('signal-monitor')}"


def test_a_bad_log_level_is_a_usage_error_not_a_traceback() -> None:
    result = CliRunner().invoke(main, ["--log-level", "loud", "rules", "check", "x.yaml"])
    assert result.exit_code == 2
    assert "Invalid value for '--log-level': 'loud' is not one of" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_log_level_is_case_insensitive() -> None:
    from signal_monitor.config.settings import DEFAULT_RULES_PATH

    result = CliRunner().invoke(main, ["--log-level", "WARNING", "rules", "check", str(DEFAULT_RULES_PATH)])
    assert result.exit_code == 0, result.output
