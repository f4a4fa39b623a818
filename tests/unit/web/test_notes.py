"""The dashboard's notes: /notes lists the weeks with a stored note, /notes/<week> shows one, escaped."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, timezone
from pathlib import Path

import faust
import pytest
from aiohttp.test_utils import TestClient, TestServer

from signal_monitor.config.settings import DEFAULT_RULES_PATH
from signal_monitor.notes.compose import compose
from signal_monitor.rules.model import load_rules
from signal_monitor.state.memory import MemoryState
from signal_monitor.web.notes import install_notes
from tests.unit.delivery.factory import make_alert

WEEK = date(2025, 6, 6)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[TestClient, MemoryState]]:  # type: ignore[type-arg]
    state = MemoryState()
    app = faust.App("test-notes", web_enabled=True, datadir=str(tmp_path / "faust"))
    install_notes(app, state)
    async with TestClient(TestServer(app.web.web_app)) as client:
        yield client, state


async def _store(state: MemoryState, week: date, text: str) -> None:
    alert = make_alert("hf_net_buying_streak", {"fund_type": "hedge_fund"}, period=week, text=text)
    note = compose(week, [alert], rules=load_rules(DEFAULT_RULES_PATH), now=datetime(2025, 6, 6, tzinfo=timezone.utc))
    await state.put_note(week, note.model_dump_json())


async def test_the_index_lists_the_weeks_newest_first(served: tuple[TestClient, MemoryState]) -> None:  # type: ignore[type-arg]
    client, state = served
    empty = await client.get("/notes")
    assert empty.status == 200 and "no note yet" in await empty.text()
    await _store(state, date(2025, 5, 30), "Older.")
    await _store(state, WEEK, "Newer.")
    body = await (await client.get("/notes")).text()
    newer, older = body.index('href="/notes/2025-06-06"'), body.index('href="/notes/2025-05-30"')
    assert newer < older


async def test_a_weeks_note_is_served_as_escaped_html(served: tuple[TestClient, MemoryState]) -> None:  # type: ignore[type-arg]
    client, state = served
    await _store(state, WEEK, 'Hedge funds: <script>alert("x")</script> & $400M.')
    response = await client.get("/notes/2025-06-06")
    assert response.status == 200
    body = await response.text()
    assert "<script>alert" not in body
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; $400M." in body
    assert '<h2 id="flows">Flows</h2>' in body
    assert "<title>Positioning note, week ending 2025-06-06</title>" in body


async def test_a_bad_week_is_400_and_a_week_without_a_note_404(served: tuple[TestClient, MemoryState]) -> None:  # type: ignore[type-arg]
    client, _ = served
    assert (await client.get("/notes/2025-06-05")).status == 400
    assert (await client.get("/notes/not-a-date")).status == 400
    missing = await client.get("/notes/2025-05-02")
    assert missing.status == 404 and "no note of the week ending 2025-05-02" in await missing.text()
