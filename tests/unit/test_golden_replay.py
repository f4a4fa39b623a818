"""The note's week through the replay engine (in memory): each claim fires with the note's numbers."""

from __future__ import annotations

import json
from pathlib import Path

from signal_monitor.offline.backfill import backfill
from signal_monitor.config.settings import DEFAULT_RULES_PATH
from signal_monitor.offline.demo import DEFAULT_VIX_CSV
from signal_monitor.offline.replay import jsonl_events, replay
from signal_monitor.rules.engine import RuleEngine
from signal_monitor.rules.model import load_rules
from signal_monitor.offline.simulate import simulate
from signal_monitor.state.memory import MemoryState
from tests.golden import check_alerts


async def test_the_note_week_fires_every_claim_with_the_note_numbers(tmp_path: Path) -> None:
    manifest = simulate(tmp_path / "data", vix_csv=DEFAULT_VIX_CSV)
    state = MemoryState()
    await backfill(state, **manifest.backfill_args())
    inputs = [(kind, jsonl_events(manifest.path(rel))) for kind, rel in manifest.streams.items()]
    summary = await replay(state, inputs, evaluator=RuleEngine(load_rules(DEFAULT_RULES_PATH), state))
    assert summary.dead_letters == []
    alerts = [json.loads(a.model_dump_json()) for a in summary.alerts]
    problems = check_alerts(alerts)
    assert not problems, "\n".join(problems)
