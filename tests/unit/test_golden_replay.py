"""The note's week through the replay engine (in memory): each claim fires with the note's numbers, in words."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import date
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
from signal_monitor.notes.notebook import Notebook
from signal_monitor.notes.render import markdown
from signal_monitor.state.memory import MemoryState
from tests.golden import NOTE_HEADINGS, NOTE_WEEK, check_alerts, check_note, check_texts

#: What no alert text may contain: an upper-case code (HF_VIP, MOST_SHORT), a snake_case id
#: (cftc_vix_futures_net, hedge_fund), the engine's "value of" for a nameless number.
RAW_CODE = re.compile(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b")
SNAKE_ID = re.compile(r"\b[a-z][a-z0-9]*_[a-z0-9_]+\b")


async def _replay(tmp_path: Path) -> tuple[list[dict[str, Any]], dict[str, Any] | None, str]:
    manifest = simulate(tmp_path / "data", vix_csv=DEFAULT_VIX_CSV)
    state = MemoryState()
    await backfill(state, **manifest.backfill_args())
    inputs = [(kind, jsonl_events(manifest.path(rel))) for kind, rel in manifest.streams.items()]
    rules = load_rules(DEFAULT_RULES_PATH)
    notebook = Notebook(state, rules)
    summary = await replay(state, inputs, evaluator=RuleEngine(rules, state), notebook=notebook)
    assert summary.dead_letters == []
    note = await notebook.stored(date.fromisoformat(NOTE_WEEK))
    return (
        [json.loads(a.model_dump_json()) for a in summary.alerts],
        json.loads(note.model_dump_json()) if note is not None else None,
        markdown(note) if note is not None else "",
    )


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], dict[str, Any] | None, str]:
    return asyncio.run(_replay(tmp_path_factory.mktemp("golden")))


@pytest.fixture(scope="module")
def alerts(replayed: tuple[list[dict[str, Any]], dict[str, Any] | None, str]) -> list[dict[str, Any]]:
    return replayed[0]


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


def test_the_note_of_the_week_holds_every_claim_under_the_notes_headings(
    replayed: tuple[list[dict[str, Any]], dict[str, Any] | None, str],
) -> None:
    _, note, _ = replayed
    assert note is not None, "the replay stored no note for the note's week"
    problems = check_note(note)
    assert not problems, "\n".join(problems)


def test_the_notes_markdown_has_the_headings_and_the_headline_first(
    replayed: tuple[list[dict[str, Any]], dict[str, Any] | None, str],
) -> None:
    _, note, text = replayed
    assert note is not None
    lines = text.splitlines()
    assert lines[0] == f"# Positioning note, week ending {NOTE_WEEK}"
    assert lines[2] == f"**{note['headline']}**"
    positions = [lines.index(f"## {heading}") for heading, _ in NOTE_HEADINGS]
    assert positions == sorted(positions)


def test_the_note_check_finds_a_claim_missing_moved_or_without_its_figure(
    replayed: tuple[list[dict[str, Any]], dict[str, Any] | None, str],
) -> None:
    import copy

    _, note, _ = replayed
    assert note is not None
    broken = copy.deepcopy(note)
    flows, sectors, leverage = broken["sections"][:3]
    dropped = flows["claims"].pop(1)
    sectors["claims"][0]["text"] = sectors["claims"][0]["text"].replace("8 of 11", "7 of 11")
    leverage["claims"].append(dict(leverage["claims"][1], rule="desk_invented"))
    problems = "\n".join(check_note(broken))
    assert f"({dropped['rule']}) is in the note 0 times" in problems
    assert "'8 of 11 sectors'" in problems
    assert "desk_invented" in problems
