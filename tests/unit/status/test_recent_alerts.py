"""The recent-alerts list over an in-memory stand-in for the Redis list commands."""

from __future__ import annotations

import json
from typing import Any

from signal_monitor.status.recent_alerts import mark_superseded, recent_alerts, remember_alert


class FakeRedis:
    """The list commands of redis.asyncio, in memory."""

    def __init__(self) -> None:
        self.lists: dict[str, list[Any]] = {}

    def pipeline(self, transaction: bool = True) -> "FakePipe":
        return FakePipe(self)

    async def lrange(self, key: str, start: int, stop: int) -> list[Any]:
        return self.lists.get(key, [])[start: stop + 1]


class FakePipe:
    def __init__(self, client: FakeRedis) -> None:
        self.client, self.ops = client, []  # type: ignore[var-annotated]

    async def __aenter__(self) -> "FakePipe":
        return self

    async def __aexit__(self, *_: Any) -> None:
        return None

    def lpush(self, key: str, value: Any) -> None:
        self.ops.append(lambda: self.client.lists.setdefault(key, []).insert(0, value))

    def ltrim(self, key: str, start: int, stop: int) -> None:
        self.ops.append(lambda: self.client.lists.__setitem__(key, self.client.lists[key][start: stop + 1]))

    async def execute(self) -> None:
        for op in self.ops:
            op()


async def test_recent_alerts_are_capped_newest_first_and_skip_junk() -> None:
    client = FakeRedis()
    for i in range(5):
        await remember_alert(client, "p", json.dumps({"rule": f"r{i}"}), cap=3)
    client.lists["p:recent_alerts"].append("not json")
    assert [a["rule"] for a in await recent_alerts(client, "p", limit=10)] == ["r4", "r3", "r2"]
    assert len(client.lists["p:recent_alerts"]) == 4


def test_a_provisional_finding_is_marked_with_what_superseded_it() -> None:
    key, other = "provisional:r:fund_type=hedge_fund:2025-06-06", "provisional:r:fund_type=long_only:2025-06-06"
    recent = [  # newest first
        {"rule": "r", "dedup_key": f"{other}:v2", "provisional": True, "fired": False, "supersedes": other},
        {"rule": "r", "dedup_key": "abc123", "provisional": False, "fired": True, "supersedes": key},
        {"rule": "r", "dedup_key": other, "provisional": True, "fired": True},
        {"rule": "r", "dedup_key": key, "provisional": True, "fired": True},
        {"rule": "s", "dedup_key": "provisional:s:x=y:2025-06-13", "provisional": True, "fired": True},
    ]
    marked = mark_superseded(recent)
    assert [a.get("superseded_by") for a in marked] == [None, None, f"{other}:v2", "abc123", None]
