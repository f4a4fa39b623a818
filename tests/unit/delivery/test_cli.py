"""The ``routes`` and ``slack`` command groups."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from signal_monitor.cli import main
from signal_monitor.config.settings import DEFAULT_ROUTES_PATH

BAD_ROUTES = """\
version: 1
receivers:
  - {name: desk, type: auto}
  - {name: quiet, type: console, channel: C1}
route:
  receiver: desk
  routes:
    - name: urgent
      match: {severity: crtical, rule: no_such_rule}
      receiver: nobody
    - name: odd
      match_re: {rule: "("}
"""


def test_routes_check_of_the_shipped_file_says_ok() -> None:
    result = CliRunner().invoke(main, ["routes", "check", str(DEFAULT_ROUTES_PATH)])
    assert result.exit_code == 0, result.output
    assert "OK, 2 receivers" in result.output  # the desk and the provisional findings' console


def test_routes_check_names_every_error(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(BAD_ROUTES)
    result = CliRunner().invoke(main, ["routes", "check", str(path)])
    assert result.exit_code == 1
    out = result.output
    assert f"{path}, receiver 'quiet', field 'channel': a console receiver takes no Slack settings" in out
    assert f"{path}, route 'urgent' (route.routes[0]), field 'receiver': unknown receiver 'nobody'" in out
    assert "field 'match.severity': unknown severity 'crtical'" in out
    assert "route 'odd' (route.routes[1]), field 'match_re.rule': invalid regular expression" in out
    assert "route 'urgent', field 'match.rule': unknown rule id 'no_such_rule'" in out
    assert "5 errors in 1 file" in out


ROUTES = """\
version: 1
receivers:
  - {name: desk, type: auto}
  - {name: urgent, type: slack, channel: "C0URGENT01"}
  - {name: energy, type: slack, webhook_url_env: ENERGY_HOOK}
route:
  receiver: desk
  group_wait: 30s
  routes:
    - name: urgent
      match: {severity: [critical, warning]}
      receiver: urgent
      group_wait: 0s
      realert: 6h
      continue: true
    - name: energy
      match: {scope.sector: Energy}
      match_re: {rule: "sector_.*"}
      receiver: energy
inhibit:
  - source: {severity: critical}
    target: {severity: warning}
    equal: [scope]
    for: 24h
rules:
  vix_below_17: {realert: 3d}
"""


def routes_test(tmp_path: Path, *args: str) -> tuple[int, str]:
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES)
    result = CliRunner().invoke(main, ["routes", "test", "--routes", str(path), *args])
    return result.exit_code, result.output


def test_routes_test_names_the_receiver_and_the_noise_it_gets(tmp_path: Path) -> None:
    import json

    code, out = routes_test(tmp_path, "--label", "severity=warning", "--label", "rule=vix_below_17",
                            "--label", "scope.symbol=VIX", "--json")
    assert code == 0, out
    found = json.loads(out)
    assert found["receivers"] == ["urgent"]
    assert found["routes"] == [{"route": "urgent", "receiver": "urgent", "type": "slack", "target": "C0URGENT01",
                                "group_wait": "0s", "group_max": 20, "realert": "3d", "resolved": False}]
    assert found["inhibited_by"] == ["inhibit[0]"] and found["inhibits"] == []


def test_routes_test_follows_continue_and_matchers(tmp_path: Path) -> None:
    code, out = routes_test(tmp_path, "--label", "severity=critical", "--label", "rule=sector_net_buying_high",
                            "--label", "scope.sector=Energy", "--expect", "urgent", "--expect", "energy")
    assert code == 0, out
    assert out.strip().splitlines()[-1] == "energy urgent"
    assert "mutes the targets of inhibit[0] for 1d" in out


def test_routes_test_expect_fails_on_another_receiver(tmp_path: Path) -> None:
    code, out = routes_test(tmp_path, "--label", "severity=info", "--label", "rule=vix_below_17", "--expect", "urgent")
    assert code == 1
    assert out.strip().splitlines()[-1] == "expected receivers urgent; got desk"


def test_routes_test_refuses_a_bad_label(tmp_path: Path) -> None:
    code, out = routes_test(tmp_path, "--label", "severity=loud")
    assert code == 2
    assert "unknown severity 'loud'" in out
