"""The demo's running weeks: provisional findings printed as such, each superseded or withdrawn at the week's close."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from signal_monitor.config.settings import Settings
from signal_monitor.offline.demo import run_demo
from tests.golden import NOTE_WEEK, check_alerts


def test_the_demo_prints_provisional_findings_that_the_week_close_supersedes(
    broker: str, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    settings = Settings(kafka_bootstrap=broker, redis_url=redis_url, key_prefix=key_prefix)
    out = tmp_path / "out.txt"
    with out.open("w") as fh:
        result = run_demo(settings, workdir=tmp_path / "demo", console=Console(file=fh, width=400, color_system=None))
    printed = out.read_text()
    assert not check_alerts(result.alerts), "the final alerts are the note's, findings apart"
    found = [a for a in result.provisional if a["fired"]]
    assert found, printed
    assert all(a["provisional"] and a["dedup_key"].startswith("provisional:") for a in result.provisional)
    assert any(a["period_end"] == NOTE_WEEK for a in found), "a finding of the note's week while it ran"
    # each finding is superseded by its week's final alert, or withdrawn at the close
    superseding = {a["supersedes"] for a in result.alerts if a.get("supersedes")}
    withdrawn = {a["supersedes"] for a in result.provisional if not a["fired"]}
    assert {a["dedup_key"] for a in found} == superseding | withdrawn
    assert len(found) == len({a["dedup_key"] for a in found}), "each finding once"
    assert printed.count("(provisional)") == len(found)
    assert "(supersedes the provisional finding)" in printed
