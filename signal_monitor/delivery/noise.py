"""Noise control with Alertmanager's and ElastAlert's semantics: realert, grouping, inhibition, silences.

- **realert**: after an alert of a rule and scope is queued for a receiver, later alerts of the same rule and
  scope are dropped for the route's (or the rule's) ``realert`` interval. Corrections and resolved notices pass.
- **grouping**: a route with ``group_wait`` > 0 buffers its alerts; ``group_wait`` after the first, the buffer
  goes out as one digest (``group_max`` alerts a message at most).
- **inhibition**: an alert matching an inhibit rule's ``source`` mutes, for the rule's ``for`` duration, the
  alerts matching its ``target`` that are equal on the ``equal`` fields (by default the same scope).
- **silences**: a silence mutes one rule (``*``: every rule), optionally for a partial scope, until it ends.

The decisions are pure functions of the stored times and a clock, so they are tested with a fake clock; the
stores keep their times in Redis under ``<key_prefix>:{delivery}:noise:`` and ``<key_prefix>:{delivery}:silences``
(the hash tag of every delivery key: see ``keys.py``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import redis.asyncio as aioredis
from pydantic import BaseModel, ConfigDict, Field

from signal_monitor.delivery.keys import delivery_base
from signal_monitor.delivery.routing import InhibitRule, format_duration
from signal_monitor.rules.alert import Alert
from signal_monitor.series import scope_key

T = TypeVar("T")
Clock = Callable[[], float]
EXPIRED_KEPT_S = 7 * 86400.0

# one key, but atomic: a script rather than MULTI, which older redis-py async cluster clients refuse
_RECORD = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""


# --- pure decisions ---------------------------------------------------------------------------------


def realert_blocks(last_queued: float | None, now: float, interval: float) -> bool:
    """Return whether an alert is dropped: the same rule and scope were queued less than ``interval`` ago."""
    return interval > 0 and last_queued is not None and now - last_queued < interval


def realert_key(prefix: str, receiver: str, alert: Alert) -> str:
    """Return the Redis key holding when ``alert``'s rule and scope were last queued for ``receiver``."""
    return f"{delivery_base(prefix)}:noise:realert:{receiver}:{alert.rule}:{scope_key(alert.scope)}"


def chunks(items: Sequence[T], size: int) -> list[list[T]]:
    """Split ``items`` into lists of at most ``size``, in order."""
    size = max(1, size)
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def inhibit_active(source_at: float | None, now: float, duration: float) -> bool:
    """Return whether an inhibition recorded at ``source_at`` still mutes its targets at ``now``."""
    return source_at is not None and 0 <= now - source_at < duration


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


# --- stores ---------------------------------------------------------------------------------------


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
