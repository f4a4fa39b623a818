"""Silences, with Alertmanager's semantics: a silence mutes one rule (``*``: every rule), optionally for a
partial scope, until it ends.

Whether a silence mutes an alert is a pure function of its times and a clock, so it is tested with a fake
clock; the store keeps the silences in Redis under ``<key_prefix>:{delivery}:silences`` (the hash tag of
every delivery key: see ``keys.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import redis.asyncio as aioredis
from pydantic import BaseModel, ConfigDict, Field

from signal_monitor.delivery.keys import delivery_base
from signal_monitor.delivery.routing import format_duration
from signal_monitor.rules.alert import Alert

Clock = Callable[[], float]
EXPIRED_KEPT_S = 7 * 86400.0


# --- pure decisions ---------------------------------------------------------------------------------


class Silence(BaseModel):
    """A silence: mutes ``rule`` (``*``: every rule) for alerts whose scope contains ``scope``, until ``ends_at``."""

    model_config = ConfigDict(frozen=True)

    id: str
    rule: str
    scope: dict[str, str] = Field(default_factory=dict)
    starts_at: float
    ends_at: float
    reason: str
    created_by: str = ""
    created_at: float

    def active(self, now: float) -> bool:
        """Return whether the silence mutes at ``now``."""
        return self.starts_at <= now < self.ends_at

    def matches(self, alert: Alert) -> bool:
        """Return whether the silence covers ``alert`` (rule and every scope pair given)."""
        if self.rule not in ("*", alert.rule):
            return False
        return all(alert.scope.get(k) == v for k, v in self.scope.items())

    def describe(self, now: float) -> str:
        """Return one line for logs and the CLI."""
        scope = ", ".join(f"{k}={v}" for k, v in sorted(self.scope.items())) or "any scope"
        left = f"ends in {format_duration(self.ends_at - now)}" if self.active(now) else "expired"
        return f"{self.id}: {self.rule} ({scope}) {left}: {self.reason}"


def silenced_by(alert: Alert, silences: Iterable[Silence], now: float) -> Silence | None:
    """Return the first active silence covering ``alert``, or None."""
    for silence in silences:
        if silence.active(now) and silence.matches(alert):
            return silence
    return None


def parse_scope(pairs: Iterable[str]) -> dict[str, str]:
    """Return a scope from ``key=value`` texts (ValueError naming the bad one)."""
    scope: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"{pair!r}: expected key=value, e.g. sector=Energy")
        scope[key.strip()] = value.strip()
    return scope


# --- the store --------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


class SilenceStore:
    """Silences in the Redis hash ``<key_prefix>:{delivery}:silences`` (id -> JSON); expired ones are kept a week."""

    def __init__(self, client: aioredis.Redis | aioredis.RedisCluster, *, prefix: str, clock: Clock) -> None:
        self.client = client
        self.key = f"{delivery_base(prefix)}:silences"
        self.clock = clock

    def __repr__(self) -> str:
        """Name the key."""
        return f"SilenceStore(key={self.key!r})"

    async def add(
        self, rule: str, *, duration: float, reason: str, scope: Mapping[str, str] | None = None, created_by: str = ""
    ) -> Silence:
        """Create a silence starting now and lasting ``duration`` seconds."""
        if duration <= 0:
            raise ValueError("a silence needs a positive duration")
        if not reason.strip():
            raise ValueError("say why (--reason): the next person on the desk will want to know")
        now = self.clock()
        silence = Silence(
            id=uuid.uuid4().hex[:8],
            rule=rule,
            scope=dict(scope or {}),
            starts_at=now,
            ends_at=now + duration,
            reason=reason.strip(),
            created_by=created_by,
            created_at=now,
        )
        await self.client.hset(self.key, silence.id, silence.model_dump_json())
        return silence

    async def all(self) -> list[Silence]:
        """Return every stored silence, by end time; silences expired more than a week ago are removed."""
        now = self.clock()
        items = [Silence.model_validate_json(_text(v)) for v in (await self.client.hgetall(self.key)).values()]
        old = [s.id for s in items if s.ends_at < now - EXPIRED_KEPT_S]
        if old:
            await self.client.hdel(self.key, *old)
        return sorted((s for s in items if s.id not in old), key=lambda s: (s.ends_at, s.id))

    async def active(self) -> list[Silence]:
        """Return the silences muting now."""
        now = self.clock()
        return [s for s in await self.all() if s.active(now)]

    async def expire(self, ident: str) -> Silence | None:
        """End a silence now; return it, or None when there is no such silence."""
        raw = await self.client.hget(self.key, ident)
        if raw is None:
            return None
        silence = Silence.model_validate_json(_text(raw))
        now = self.clock()
        if silence.ends_at > now:
            silence = silence.model_copy(update={"ends_at": now})
            await self.client.hset(self.key, ident, silence.model_dump_json())
        return silence
