"""``signal-monitor note`` against the shared Redis under the test's prefix: the stored note, else one composed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import date

import pytest
import redis
import redis.asyncio as aioredis
from click.testing import CliRunner

from signal_monitor.cli import main
from signal_monitor.config.settings import DEFAULT_RULES_PATH
from signal_monitor.notes.notebook import Notebook
from signal_monitor.rules.model import load_rules
from signal_monitor.state.redis import RedisState
from signal_monitor.status.recent_alerts import recent_alerts_key
from tests.unit.delivery.factory import make_alert

WEEK = date(2025, 6, 6)
STREAK = "Hedge funds: net buying of $400M in the week ending 2025-06-06, positive for the 5th consecutive week."
VIX = "The VIX closed at 16.77 on 2025-06-06, below 17 for the first time since 2025-02-20."


def _alerts() -> list:  # type: ignore[type-arg]
    return [
        make_alert("hf_net_buying_streak", {"fund_type": "hedge_fund"}, severity="info", text=STREAK),
        make_alert("vix_below_17", {"symbol": "VIX"}, text=VIX),
    ]


@pytest.fixture
def env(redis_url: str, key_prefix: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[redis.Redis]:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("SM_KEY_PREFIX", key_prefix)
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def _with_state(redis_url: str, prefix: str, work) -> None:  # type: ignore[no-untyped-def]
    async def run() -> None:
        state = RedisState(aioredis.Redis.from_url(redis_url, decode_responses=True), prefix=prefix)
        try:
            await work(state)
        finally:
            await state.close()

    asyncio.run(run())


def test_note_prints_the_stored_note_in_each_format(env: redis.Redis, redis_url: str, key_prefix: str) -> None:
    async def store(state: RedisState) -> None:
        await Notebook(state, load_rules(DEFAULT_RULES_PATH)).take(_alerts())

    _with_state(redis_url, key_prefix, store)
    runner = CliRunner()
    result = runner.invoke(main, ["note", "--week", "2025-06-06"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "# Positioning note, week ending 2025-06-06"
    assert f"**{STREAK}**" in lines  # the flows streak is rank 1: the headline
    assert lines.index("## Flows") < lines.index("## Volatility")
    assert f"- {VIX}" in lines
    assert "composed from" not in result.output

    result = runner.invoke(main, ["note", "--week", "2025-06-06", "--format", "text"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[3] == STREAK and "Volatility\n----------" in result.output

    result = runner.invoke(main, ["note", "--week", "2025-06-06", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["week"] == "2025-06-06" and doc["headline"] == STREAK
    assert [s["key"] for s in doc["sections"]] == ["flows", "volatility"]


def test_without_a_stored_note_it_is_composed_from_the_weeks_kept_alerts(
    env: redis.Redis, redis_url: str, key_prefix: str
) -> None:
    async def keep(state: RedisState) -> None:
        daily = make_alert("vix_below_17", {"symbol": "VIX"}, text=VIX)
        await Notebook(state, None).take([daily.model_copy(update={"granularity": "day"})])  # no week closed: no note
        assert await state.get_note(WEEK) is None

    _with_state(redis_url, key_prefix, keep)
    result = CliRunner().invoke(main, ["note", "--week", "2025-06-06", "--format", "text"])
    assert result.exit_code == 0, result.output
    assert VIX in result.output
    assert "composed from the week's final alerts kept in Redis" in result.output  # stderr, mixed in by CliRunner


def test_without_either_it_falls_back_to_the_recent_alerts_and_says_so(env: redis.Redis, key_prefix: str) -> None:
    old = make_alert("vix_below_17", {"symbol": "VIX"}, text=VIX)
    provisional = make_alert("hf_net_buying_streak", {"fund_type": "hedge_fund"}, text=STREAK, provisional=True)
    for alert in (old, provisional):
        env.lpush(recent_alerts_key(key_prefix), alert.model_dump_json())
    result = CliRunner().invoke(main, ["note", "--week", "2025-06-06"])
    assert result.exit_code == 0, result.output
    assert VIX in result.output
    assert STREAK not in result.output  # a provisional alert is never in a note
    assert "the recent-alerts list" in result.output


def test_a_week_with_nothing_is_a_clear_error(env: redis.Redis) -> None:
    result = CliRunner().invoke(main, ["note", "--week", "2025-05-02"])
    assert result.exit_code == 1
    assert "no note and no alerts of the week ending 2025-05-02" in result.output


def test_a_week_is_named_by_its_friday(env: redis.Redis) -> None:
    result = CliRunner().invoke(main, ["note", "--week", "2025-06-04"])
    assert result.exit_code == 2
    assert "2025-06-04 is a Wednesday" in result.output

