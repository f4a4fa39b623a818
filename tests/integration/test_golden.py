"""The note's week end to end: backfill into Redis, events through Kafka, a worker process, alerts on the topic."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from signal_monitor.config.settings import Settings
from signal_monitor.offline.demo import run_demo
from tests.golden import NOTE_WEEK, check_alerts, check_note


def test_demo_streams_the_note_week_and_every_claim_fires(broker: str, redis_url: str, key_prefix: str, tmp_path: Path) -> None:
    settings = Settings(kafka_bootstrap=broker, redis_url=redis_url, key_prefix=key_prefix)
    result = run_demo(settings, workdir=tmp_path / "demo", console=Console(file=open(tmp_path / "out.txt", "w")))
    assert result.dead_letters == 0
    assert result.produced["trades"] > 1000 and result.produced["exposures"] > 1000
    problems = check_alerts(result.alerts)
    assert not problems, "\n".join(problems)
    assert result.note_path == tmp_path / "demo" / f"note-{NOTE_WEEK}.md"
    assert result.note_path.read_text(encoding="utf-8") == result.note
    problems = check_note(result.note_json)
    assert not problems, "\n".join(problems)
