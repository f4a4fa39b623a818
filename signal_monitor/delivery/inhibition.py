"""Inhibition, with Alertmanager's semantics: an alert matching an inhibit rule's ``source`` mutes, for the
rule's ``for`` duration, the alerts matching its ``target`` that are equal on the ``equal`` fields (by default
the same scope).

The decision is a pure function of the stored time and a clock, so it is tested with a fake clock; the
sources are kept in Redis under ``<key_prefix>:{delivery}:noise:inhibit:<n>`` (the hash tag of every delivery
key: see ``keys.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import redis.asyncio as aioredis

from signal_monitor.delivery.keys import delivery_base
from signal_monitor.delivery.routing import InhibitRule
from signal_monitor.rules.alert import Alert

Clock = Callable[[], float]

# one key, but atomic: a script rather than MULTI, which older redis-py async cluster clients refuse
_RECORD = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""


def inhibit_active(source_at: float | None, now: float, duration: float) -> bool:
    """Return whether an inhibition recorded at ``source_at`` still mutes its targets at ``now``."""
    return source_at is not None and 0 <= now - source_at < duration


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


class Inhibitor:
    """Records inhibition sources and checks targets.

    The sources are hashes ``<key_prefix>:{delivery}:noise:inhibit:<n>`` (equal-key -> time), one per inhibit rule.
    """

    def __init__(
        self,
        client: aioredis.Redis | aioredis.RedisCluster,
        *,
        prefix: str,
        rules: Sequence[InhibitRule],
        clock: Clock,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.rules = tuple(rules)
        self.clock = clock
        self._record = client.register_script(_RECORD)

    def __repr__(self) -> str:
        """Count the rules."""
        return f"Inhibitor(rules={len(self.rules)})"

    def _key(self, index: int) -> str:
        return f"{delivery_base(self.prefix)}:noise:inhibit:{index}"

    def is_source(self, alert: Alert) -> bool:
        """Return whether ``alert`` is the source of some inhibition."""
        return alert.fired and any(rule.source.matches(alert) for rule in self.rules)

    async def record(self, alert: Alert) -> None:
        """Remember ``alert`` as a source of every inhibit rule it matches (withdrawals inhibit nothing)."""
        if not alert.fired:
            return
        now = self.clock()
        for index, rule in enumerate(self.rules):
            if rule.source.matches(alert):
                args = [rule.key(alert), json.dumps({"at": now, "rule": alert.rule}), max(1, int(rule.duration) + 3600)]
                await self._record(keys=[self._key(index)], args=args)

    async def muted_by(self, alert: Alert) -> str | None:
        """Return the rule id of the source muting ``alert``, or None (an alert never mutes itself)."""
        now = self.clock()
        for index, rule in enumerate(self.rules):
            if not rule.target.matches(alert) or rule.source.matches(alert):
                continue
            raw = await self.client.hget(self._key(index), rule.key(alert))
            if raw is None:
                continue
            record = json.loads(_text(raw))
            if inhibit_active(float(record["at"]), now, rule.duration):
                return str(record.get("rule", "?"))
        return None
