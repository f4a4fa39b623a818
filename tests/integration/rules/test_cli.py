"""The desk's commands that read Redis: ``alerts list`` and ``explain``, against the shared Redis under the test's prefix."""

from __future__ import annotations

import json
from datetime import date

import pytest
import redis
from click.testing import CliRunner

from signal_monitor.cli import main
from signal_monitor.status.recent_alerts import recent_alerts_key
from tests.unit.delivery.factory import make_alert


@pytest.fixture
def env(redis_url: str, key_prefix: str, monkeypatch: pytest.MonkeyPatch) -> redis.Redis:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("SM_KEY_PREFIX", key_prefix)
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def test_alerts_list_filters_what_the_workers_remembered(env: redis.Redis, key_prefix: str) -> None:
    older = make_alert("sector_net_buying_high", {"fund_type": "hedge_fund", "sector": "Energy"}, severity="info",
                       period=date(2025, 5, 30))
    energy = make_alert("sector_net_buying_high", {"fund_type": "hedge_fund", "sector": "Energy"}, severity="info")
    tech = make_alert("sector_net_buying_high", {"fund_type": "hedge_fund", "sector": "Information Technology"},
                      severity="warning")
    for alert in (older, energy, tech):  # newest pushed last: the list is newest first
        env.lpush(recent_alerts_key(key_prefix), alert.model_dump_json())
    runner = CliRunner(env={"COLUMNS": "250"})
    result = runner.invoke(main, ["alerts", "list", "--scope", "sector=Energy", "--json"])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["dedup_key"] for line in result.output.splitlines()] == [energy.dedup_key, older.dedup_key]
    result = runner.invoke(main, ["alerts", "list", "--period", "2025-06-06", "--severity", "warning"])
    assert result.exit_code == 0, result.output
    assert "1 of the 3 recent alerts" in result.output and tech.dedup_key in result.output
    assert energy.dedup_key not in result.output
