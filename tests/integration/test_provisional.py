"""A worker over Kafka and Redis hands on a provisional finding of the running week, which the week's close supersedes."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import redis

from signal_monitor.rules.alert import provisional_key
from tests.integration.harness import Names, Worker, create_topics, produce, read_topic

UTC = timezone.utc
FRI = date(2025, 6, 6)
HF = {"fund_type": "hedge_fund"}

RULES = """
rules:
  - id: hf_week_buying
    description: Hedge funds net bought in the week.
    metric: net_buying
    period: week
    scope: {fund_type: hedge_fund}
    kind: streak
    params: {condition: gt, level: 0, min_count: 1}
    provisional: true
    provisional_message: "Hedge funds on track to net buy in the week ending $period_end: $value so far."
"""


def trade(trade_id: str, at: datetime, notional: float) -> tuple[bytes, bytes]:
    event: dict[str, Any] = {
        "trade_id": trade_id, "ts": at.isoformat(), "fund_id": "F1", "fund_type": "hedge_fund",
        "strategy": "fundamental_long_short", "symbol": "XLI", "instrument_type": "etf", "sector": "Industrials",
        "action": "buy_long", "quantity": notional / 100.0, "price": 100.0, "notional": notional,
    }
    return b"F1", json.dumps(event).encode()


def closed_through(redis_url: str, key_prefix: str) -> str | None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        raw = client.hget(f"{key_prefix}:rule:__closer__", "progress")
    finally:
        client.close()
    return json.loads(raw).get("day") if raw else None


def test_a_worker_hands_on_a_provisional_finding_and_the_week_close_supersedes_it(
    broker: str, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    names = Names(key_prefix)
    create_topics(broker, names)
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    env = {
        "SM_RULES_ENABLED": "true",
        "SM_RULES_PATH": str(rules),
        "SM_IDLE_PARTITION_S": "1",
        "SM_PROVISIONAL_EVERY_S": "1",  # the cadence and the day closes both evaluate: one finding all the same
    }
    worker = Worker(broker, redis_url, names, tmp_path, env=env, tag="pv").start()
    try:
        # Monday and Tuesday of the week: once the partition is idle, Monday closes, the week runs on
        produce(broker, names.topic("trades"), [
            trade("t1", datetime(2025, 6, 2, 14, tzinfo=UTC), 1000.0),
            trade("t2", datetime(2025, 6, 3, 15, tzinfo=UTC), 500.0),
        ])
        first = read_topic(broker, names.topic("alerts"), expect=1, timeout=90)
        assert len(first) == 1, worker.log[-3000:]
        finding = first[0]
        key = provisional_key("hf_week_buying", HF, FRI)
        assert finding["provisional"] and finding["fired"] and finding["dedup_key"] == key
        assert finding["text"].startswith("Hedge funds on track to net buy in the week ending 2025-06-06: ")
        assert finding["value"] == 1500.0  # Monday and Tuesday: the week so far
        assert (closed_through(redis_url, key_prefix) or "") < FRI.isoformat(), "the week was still running"
        # Friday, and an event of the next Monday: the week closes
        produce(broker, names.topic("trades"), [
            trade("t3", datetime(2025, 6, 6, 15, tzinfo=UTC), 250.0),
            trade("t4", datetime(2025, 6, 9, 14, tzinfo=UTC), 10.0),
        ])
        # the week's final alert, then the next week's finding (its Monday is the running week now)
        alerts = read_topic(broker, names.topic("alerts"), expect=3, timeout=90)
        assert len(alerts) == 3, worker.log[-3000:]
        final = alerts[1]
        assert not final["provisional"] and final["fired"] and final["period_end"] == FRI.isoformat()
        assert alerts[2]["provisional"] and alerts[2]["period_end"] == "2025-06-13"
        assert final["supersedes"] == key
        assert final["value"] == 1750.0  # the whole week, Friday included
        assert [a["dedup_key"] for a in alerts].count(key) == 1
        assert "provisional finding hf_week_buying" in worker.log
    finally:
        worker.stop()
