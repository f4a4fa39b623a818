"""The note's week through the replay engine (in memory): each claim fires with the note's numbers, in words."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest

from signal_monitor.config.settings import DEFAULT_RULES_PATH
from signal_monitor.offline.backfill import backfill
from signal_monitor.offline.demo import DEFAULT_VIX_CSV
from signal_monitor.offline.replay import jsonl_events, replay
from signal_monitor.offline.simulate import simulate
from signal_monitor.rules.engine import RuleEngine
from signal_monitor.rules.model import load_rules
from signal_monitor.state.memory import MemoryState
from tests.golden import check_alerts, check_texts

#: What no alert text may contain: an upper-case code (HF_VIP, MOST_SHORT), a snake_case id
#: (cftc_vix_futures_net, hedge_fund), the engine's "value of" for a nameless number.
RAW_CODE = re.compile(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b")
SNAKE_ID = re.compile(r"\b[a-z][a-z0-9]*_[a-z0-9_]+\b")


async def _replay(tmp_path: Path) -> list[dict[str, Any]]:
    manifest = simulate(tmp_path / "data", vix_csv=DEFAULT_VIX_CSV)
    state = MemoryState()
    await backfill(state, **manifest.backfill_args())
    inputs = [(kind, jsonl_events(manifest.path(rel))) for kind, rel in manifest.streams.items()]
    summary = await replay(state, inputs, evaluator=RuleEngine(load_rules(DEFAULT_RULES_PATH), state))
    assert summary.dead_letters == []
    return [json.loads(a.model_dump_json()) for a in summary.alerts]


@pytest.fixture(scope="module")
def alerts(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return asyncio.run(_replay(tmp_path_factory.mktemp("golden")))


def test_the_note_week_fires_every_claim_with_the_note_numbers(alerts: list[dict[str, Any]]) -> None:
    problems = check_alerts(alerts)
    assert not problems, "\n".join(problems)


def test_the_note_week_reads_like_the_note(alerts: list[dict[str, Any]]) -> None:
    problems = check_texts(alerts)
    assert not problems, "\n".join(problems)


def test_no_text_names_a_raw_series_id_or_basket_code(alerts: list[dict[str, Any]]) -> None:
    names = load_rules(DEFAULT_RULES_PATH).names
    for alert in alerts:
        text = alert["text"]
        assert not RAW_CODE.search(text), text
        assert not SNAKE_ID.search(text), text
        assert "value of" not in text, text
        for dim in ("symbol", "series"):  # a raw symbol or series id shows only inside its display name
            raw = alert["scope"].get(dim)
            if raw and raw in text:
                assert raw in names.of(dim, raw), text


def test_a_replayed_week_is_named_not_this_week(alerts: list[dict[str, Any]]) -> None:
    # a replay is of past weeks: "the week ending 2025-06-06", never "this week" (the note, written in its
    # own week, says "this week"; the live closer says so too while the clock is in the week)
    weekly = [a for a in alerts if a["granularity"] == "week"]
    assert weekly
    for alert in weekly:
        assert f"in the week ending {alert['period_end']}" in alert["text"], alert["text"]
        assert "this week" not in alert["text"], alert["text"]
