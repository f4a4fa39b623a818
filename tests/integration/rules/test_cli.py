"""The desk's commands that read Redis: ``alerts list`` and ``explain``, against the shared Redis under the test's prefix."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import redis
from click.testing import CliRunner

from signal_monitor.cli import main
from signal_monitor.status.recent_alerts import recent_alerts_key
from tests.unit.delivery.factory import make_alert


@pytest.fixture
def env(redis_url: str, key_prefix: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[redis.Redis]:
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


VIX_CSV = Path(__file__).resolve().parents[3] / "data" / "vix-daily.csv"


def test_explain_shows_points_threshold_state_and_delivery(env: redis.Redis, key_prefix: str, tmp_path: Path) -> None:
    import asyncio
    import time
    from signal_monitor.cli import _open_state
    from signal_monitor.config.settings import DEFAULT_RULES_PATH, Settings
    from signal_monitor.delivery.outbox import Outbox
    from signal_monitor.delivery.silences import SilenceStore
    from signal_monitor.offline.replay import cboe_quotes, replay
    from signal_monitor.rules.engine import RuleEngine
    from signal_monitor.rules.model import load_rules
    from signal_monitor.status.recent_alerts import remember_alert

    async def setup() -> Any:
        # up to 2025-06-10: the rule state keeps the results of the last 8 periods, the 6th of June among them
        rows = [line for line in VIX_CSV.read_text().splitlines()
                if line.startswith(("DATE", "2024-")) or "2025-01-01" <= line[:10] <= "2025-06-10"]
        excerpt = Path(tmp_path) / "vix.csv"
        excerpt.write_text("\n".join(rows) + "\n")
        rules = [r for r in load_rules(DEFAULT_RULES_PATH) if r.id == "vix_below_17"]
        state = _open_state(Settings(), prefix=key_prefix)
        summary = await replay(state, [("quotes", cboe_quotes(excerpt, "VIX"))], evaluator=RuleEngine(rules, state))
        (alert,) = [a for a in summary.alerts if a.period_end.isoformat() == "2025-06-06"]
        await remember_alert(state.client, key_prefix, alert.model_dump_json())
        box = Outbox(state.client, prefix=key_prefix)
        await state.client.set(box.claim_key("desk", alert.dedup_key), "1")
        await SilenceStore(state.client, prefix=key_prefix, clock=time.time).add(
            "vix_below_17", duration=3600, reason="FOMC day", scope={"symbol": "VIX"}
        )
        await state.close()
        return alert

    alert = asyncio.run(setup())
    result = CliRunner().invoke(main, ["explain", alert.dedup_key, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["rule"] == "vix_below_17" and report["scope"] == {"symbol": "VIX"} and report["period"] == "2025-06-06"
    points = report["points"]["close:day|symbol=VIX"]
    (this,) = [p for p in points if p["this"]]
    assert this == {"period": "2025-06-06", "value": 16.77, "this": True}
    assert len([p for p in points if p["period"] < "2025-06-06"]) == 6
    result_ = report["state"]["result"]
    assert result_["fired"] is True and result_["threshold"] == 17.0 and result_["value"] == 16.77
    assert result_["memory_before"]["threshold_cross"]["armed"] is True
    assert report["state"]["memory"]["threshold_cross"]["armed"] is False  # fired, so disarmed until 18
    (desk,) = report["delivery"]["receivers"]
    assert desk["receiver"] == "desk" and desk["claimed"] is True and desk["decided"].startswith("claimed and no longer queued")
    (silence,) = report["delivery"]["silences"]
    assert silence["reason"] == "FOMC day" and silence["covered_the_alert"] is False  # added after the alert
    assert report["not_kept"]

    by_rule = CliRunner(env={"COLUMNS": "200"}).invoke(
        main, ["explain", "--rule", "vix_below_17", "--scope", "symbol=VIX", "--period", "2025-06-06"]
    )
    assert by_rule.exit_code == 0, by_rule.output
    assert alert.dedup_key in by_rule.output and "2025-06-06 ←" in by_rule.output
    assert "rule state for 2025-06-06: fired True, value 16.77, threshold 17.0, revision 1" in by_rule.output
    assert "route 'route' → receiver 'desk' (group_wait 30s): claimed" in by_rule.output


def test_explain_of_an_unknown_key_says_what_to_give(env: redis.Redis) -> None:
    result = CliRunner().invoke(main, ["explain", "0123456789abcdef"])
    assert result.exit_code == 1
    assert "give --rule, --scope and --period instead" in result.output


def test_explain_says_the_cooldown_kept_an_alert_back(env: redis.Redis, key_prefix: str, tmp_path: Path) -> None:
    """vix_low_since (cooldown 20 trading days): the close of 2025-06-06 (16.77) was the lowest since February and
    alerted; 16.59 on 2025-06-26 was lower still, 14 trading days later, so its checks held inside the cooldown."""
    import asyncio
    from signal_monitor.cli import _open_state
    from signal_monitor.config.settings import DEFAULT_RULES_PATH, Settings
    from signal_monitor.offline.replay import cboe_quotes, replay
    from signal_monitor.rules.engine import RuleEngine
    from signal_monitor.rules.model import load_rules

    lines = VIX_CSV.read_text().splitlines()
    rows = [line for line in lines if line.startswith(("DATE", "2024-")) or "2025-01-01" <= line[:10] <= "2025-06-27"]
    days_after = [line[:10] for line in rows if "2025-06-06" < line[:10] <= "2025-06-26"]
    excerpt = Path(tmp_path) / "vix.csv"
    excerpt.write_text("\n".join(rows) + "\n")

    async def setup() -> list[str]:
        rules = [r for r in load_rules(DEFAULT_RULES_PATH) if r.id == "vix_low_since"]
        state = _open_state(Settings(), prefix=key_prefix)
        summary = await replay(state, [("quotes", cboe_quotes(excerpt, "VIX"))], evaluator=RuleEngine(rules, state))
        await state.close()
        return [a.period_end.isoformat() for a in summary.alerts if a.period_end.isoformat() >= "2025-06-01"]

    assert asyncio.run(setup()) == ["2025-06-06"]
    args = ["explain", "--rule", "vix_low_since", "--scope", "symbol=VIX", "--period", "2025-06-26"]
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    cooldown = json.loads(result.output)["cooldown"]
    assert cooldown["periods"] == 20 and cooldown["unit"] == "trading days"
    assert cooldown["inside"] is True and cooldown["held_back"] is True
    assert cooldown["since_last_alert"] == len(days_after)
    text = CliRunner(env={"COLUMNS": "250"}).invoke(main, args)
    assert text.exit_code == 0, text.output
    assert (f"cooldown: 20 trading days; inside it ({len(days_after)} trading days after the last alert of this "
            "scope): the checks held, but the cooldown kept the alert back") in text.output
    before = CliRunner().invoke(main, [*args[:-1], "2025-06-24", "--json"])  # 17.48: no new low, still inside
    cooldown = json.loads(before.output)["cooldown"]
    assert cooldown["inside"] is True and cooldown["held_back"] is False
