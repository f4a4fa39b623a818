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
    assert "OK, 1 receivers" in result.output


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
