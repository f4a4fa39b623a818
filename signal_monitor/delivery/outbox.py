"""The Redis outbox: every message is stored before its first attempt and removed only once it was delivered.

Layout, all under ``<key_prefix>:{delivery}:outbox:`` (``<p>``; ``{delivery}`` is the Redis Cluster hash tag
of every delivery key, see ``keys.py``)::

    <p>:msg                 hash   message id -> message JSON (destination, alerts, title)
    <p>:q:<dest>            list   ids waiting for one destination, oldest first (the head is next)
    <p>:dests               set    destinations with a non-empty queue
    <p>:lease:<dest>        string the worker token that may send to this destination now (expires)
    <p>:inflight            hash   id -> {token, started, attempt}: an attempt whose answer is not known yet
    <p>:attempts            hash   id -> failed attempts so far (429s do not count)
    <p>:next                hash   dest -> epoch before which the destination is not tried again (backoff, Retry-After)
    <p>:paced               hash   dest -> epoch of the last attempt (pacing)
    <p>:parked              hash   id -> {dest, reason, detail, status, parked_at}
    <p>:parked_msg          hash   id -> the parked message JSON
    <p>:stats               hash   counters (enqueued, sent, parked, parked:<reason>, deduplicated, ...)
    <p>:last                hash   the last message sent: at, dest, rule, id
    <p>:claim:<recv>:<key>  string an alert's dedup key claimed for a receiver (SET NX with expiry)
    <p>:channel_ids         hash   receiver -> Slack channel id learnt from a post
    <p>:post:<dest>:<key>   string the Slack ``ts`` of the first post of an alert (its first revision's dedup key)
                                   to a bot-token destination, which its withdrawal replies under (SET NX, expiry)

and the group buffers under ``<key_prefix>:{delivery}:noise:`` (``groups`` zset of due
times, ``group:<route>`` lists). Every move between these is one Lua script,
so a worker killed at any point leaves each message in exactly one place. Each
script gets every key it touches in KEYS, and all of them share the hash tag, so
the scripts run on a Redis Cluster as on one server. Steps that must be atomic are
scripts rather than MULTI pipelines: the async cluster client of older redis-py
versions (which the requirements still allow) refuses transactions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from signal_monitor.delivery.keys import delivery_base

_ADMIT = """
-- KEYS: claim, realert, list (queue or group buffer), msg, dests, groups, stats
-- ARGV: claim_ttl_ms, realert_s, mode, id, payload, dest_or_group, due, now, realert_ttl_ms
if not redis.call('SET', KEYS[1], ARGV[4], 'NX', 'PX', ARGV[1]) then
  redis.call('HINCRBY', KEYS[7], 'deduplicated', 1)
  return 'duplicate'
end
local realert = tonumber(ARGV[2])
if realert > 0 then
  local last = redis.call('GET', KEYS[2])
  if last and tonumber(ARGV[8]) - tonumber(last) < realert then
    redis.call('HINCRBY', KEYS[7], 'realert_suppressed', 1)
    return 'realert'
  end
  redis.call('SET', KEYS[2], ARGV[8], 'PX', ARGV[9])
end
if ARGV[3] == 'queue' then
  redis.call('HSET', KEYS[4], ARGV[4], ARGV[5])
  redis.call('RPUSH', KEYS[3], ARGV[4])
  redis.call('SADD', KEYS[5], ARGV[6])
  redis.call('HINCRBY', KEYS[7], 'enqueued', 1)
else
  redis.call('RPUSH', KEYS[3], ARGV[5])
  redis.call('ZADD', KEYS[6], 'NX', ARGV[7], ARGV[6])
  redis.call('HINCRBY', KEYS[7], 'grouped', 1)
end
return 'ok'
"""

_FLUSH = """
-- KEYS: group list, groups zset, msg, stats, dests ; then one queue key per message
-- ARGV: n, first entry, nth entry, group key, now, m, then m triples (id, payload, dest)
local n = tonumber(ARGV[1])
if redis.call('LINDEX', KEYS[1], 0) ~= ARGV[2] or redis.call('LINDEX', KEYS[1], n - 1) ~= ARGV[3] then
  return 0
end
redis.call('LTRIM', KEYS[1], n, -1)
local m = tonumber(ARGV[6])
for i = 0, m - 1 do
  local id, payload, dest = ARGV[7 + 3 * i], ARGV[8 + 3 * i], ARGV[9 + 3 * i]
  redis.call('HSET', KEYS[3], id, payload)
  redis.call('RPUSH', KEYS[6 + i], id)
  redis.call('SADD', KEYS[5], dest)
  redis.call('HINCRBY', KEYS[4], 'enqueued', 1)
end
if redis.call('LLEN', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[2], ARGV[4])
else
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4])
end
return 1
"""

_LEASE = """
local cur = redis.call('GET', KEYS[1])
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

_BEGIN = """
-- KEYS: lease, queue, inflight, paced ; ARGV: token, id, dest, record, now, lease ms
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('LINDEX', KEYS[2], 0) ~= ARGV[2] then return -1 end
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[4])
redis.call('HSET', KEYS[4], ARGV[3], ARGV[5])
return 1
"""

_DONE = """
-- KEYS: lease, queue, msg, inflight, attempts, next, stats, last, dests, parked, parked_msg
-- ARGV: token, id, dest, mode ('sent' | 'confirmed' | 'parked' | 'dropped'), now, rule, parked record, reason
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('LINDEX', KEYS[2], 0) ~= ARGV[2] then return -1 end
local raw = redis.call('HGET', KEYS[3], ARGV[2])
redis.call('LPOP', KEYS[2])
redis.call('HDEL', KEYS[3], ARGV[2])
redis.call('HDEL', KEYS[4], ARGV[2])
redis.call('HDEL', KEYS[5], ARGV[2])
redis.call('HDEL', KEYS[6], ARGV[3])
local mode = ARGV[4]
if mode == 'sent' or mode == 'confirmed' then
  redis.call('HINCRBY', KEYS[7], 'sent', 1)
  if mode == 'confirmed' then redis.call('HINCRBY', KEYS[7], 'confirmed', 1) end
  redis.call('HSET', KEYS[8], 'at', ARGV[5], 'dest', ARGV[3], 'rule', ARGV[6], 'id', ARGV[2])
elseif mode == 'parked' then
  redis.call('HSET', KEYS[10], ARGV[2], ARGV[7])
  if raw then redis.call('HSET', KEYS[11], ARGV[2], raw) end
  redis.call('HINCRBY', KEYS[7], 'parked', 1)
  redis.call('HINCRBY', KEYS[7], 'parked:' .. ARGV[8], 1)
else
  redis.call('HINCRBY', KEYS[7], 'dropped', 1)
end
if redis.call('LLEN', KEYS[2]) == 0 then redis.call('SREM', KEYS[9], ARGV[3]) end
return 1
"""

_ENQUEUE = """
-- KEYS: msg, queue, dests, stats ; ARGV: id, payload, dest
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[3])
redis.call('HINCRBY', KEYS[4], 'enqueued', 1)
return 1
"""

_DEFER = """
-- KEYS: next, attempts, stats, inflight ; ARGV: dest, until, id, count (1 | 0), keep_inflight (1 | 0)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local counted = ARGV[4] == '1'
local attempts = redis.call('HINCRBY', KEYS[2], ARGV[3], counted and 1 or 0)
redis.call('HINCRBY', KEYS[3], counted and 'retried' or 'rate_limited', 1)
if ARGV[5] ~= '1' then redis.call('HDEL', KEYS[4], ARGV[3]) end
return attempts
"""

_REQUEUE = """
-- KEYS: parked, msg, dests, stats, parked_msg, queue ; ARGV: id, dest
local raw = redis.call('HGET', KEYS[5], ARGV[1])
if not raw or redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], raw)
redis.call('RPUSH', KEYS[6], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[2])
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[5], ARGV[1])
redis.call('HINCRBY', KEYS[4], 'requeued', 1)
return 1
"""

#: One turn of a destination's loop: renew (or take) its lease, then read its head message and what
#: decides the attempt (the gates, an unanswered attempt, the failed attempts), in one round trip.
_TURN = """
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then
  return {0}
end
if cur then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
local id = redis.call('LINDEX', KEYS[2], 0)
if not id then
  return {1}
end
return {1, id, redis.call('HGET', KEYS[3], id), redis.call('HGET', KEYS[4], ARGV[3]),
        redis.call('HGET', KEYS[5], ARGV[3]), redis.call('HGET', KEYS[6], id), redis.call('HGET', KEYS[7], id)}
"""


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class Parked:
    """A message that will not be retried, with Slack's reason."""

    id: str
    message: dict[str, Any]
    reason: str
    detail: str
    status: int | None
    parked_at: float


@dataclass(frozen=True)
class Turn:
    """What a destination's loop reads before an attempt (``Outbox.turn``)."""

    held: bool  #: the lease is this token's (taken or renewed)
    ident: str | None = None  #: the head message's id, None when the queue is empty
    message: dict[str, Any] | None = None  #: the head message, None when it is missing
    next_at: float = 0.0  #: the next allowed attempt (epoch seconds, 0 when none)
    paced_at: float = 0.0  #: the last attempt (epoch seconds, 0 when none)
    inflight: dict[str, Any] | None = None  #: the record of an attempt whose answer is unknown
    attempts: int = 0  #: failed attempts of the head message so far


def _float(raw: Any) -> float:
    return float(_text(raw)) if raw else 0.0


class Outbox:
    """The durable queues of messages per destination, their leases, and the claims of alert dedup keys."""

    def __init__(self, client: aioredis.Redis | aioredis.RedisCluster, *, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self.tagged = delivery_base(prefix)
        self.base = f"{self.tagged}:outbox"
        self._admit = client.register_script(_ADMIT)
        self._flush = client.register_script(_FLUSH)
        self._lease = client.register_script(_LEASE)
        self._release = client.register_script(_RELEASE)
        self._begin = client.register_script(_BEGIN)
        self._done = client.register_script(_DONE)
        self._requeue = client.register_script(_REQUEUE)
        self._enqueue = client.register_script(_ENQUEUE)
        self._defer = client.register_script(_DEFER)
        self._turn = client.register_script(_TURN)

    def __repr__(self) -> str:
        """Name the key prefix."""
        return f"Outbox(prefix={self.prefix!r})"

    # --- keys -------------------------------------------------------------------------------

    def key(self, *parts: str) -> str:
        """Return the key ``<prefix>:{delivery}:outbox:<parts...>``."""
        return ":".join((self.base, *parts))

    def queue_key(self, dest: str) -> str:
        """Return the queue key of a destination."""
        return self.key("q", dest)

    def claim_key(self, receiver: str, dedup: str) -> str:
        """Return the claim key of an alert's dedup key for a receiver."""
        return self.key("claim", receiver, dedup)

    def group_key(self, group: str) -> str:
        """Return the buffer key of a group."""
        return f"{self.tagged}:noise:group:{group}"

    @property
    def groups_key(self) -> str:
        """Return the zset of group due times."""
        return f"{self.tagged}:noise:groups"

    # --- admission ----------------------------------------------------------------------------

    async def admit(
        self,
        *,
        receiver: str,
        dedup: str,
        claim_ttl_s: float,
        realert_key: str,
        realert_s: float,
        now: float,
        message: Mapping[str, Any] | None = None,
        group: str | None = None,
        entry: Mapping[str, Any] | None = None,
        due: float = 0.0,
    ) -> str:
        """Claim ``dedup`` for ``receiver`` and queue ``message`` (or buffer ``entry`` in ``group``), atomically.

        Return ``ok``, ``duplicate`` (claimed before: nothing done) or ``realert`` (the same rule and scope went
        out less than ``realert_s`` ago: claimed, not queued).
        """
        if message is not None:
            mode, target, payload, ident = "queue", self.queue_key(message["dest"]), json.dumps(message), message["id"]
            name = message["dest"]
        elif group is not None and entry is not None:
            mode, target, payload, ident, name = "group", self.group_key(group), json.dumps(entry), dedup, group
        else:
            raise ValueError("give a message, or a group and an entry")
        keys = [
            self.claim_key(receiver, dedup),
            realert_key,
            target,
            self.key("msg"),
            self.key("dests"),
            self.groups_key,
            self.key("stats"),
        ]
        args = [
            max(1, int(claim_ttl_s * 1000)),
            repr(float(realert_s)),
            mode,
            ident,
            payload,
            name,
            repr(due),
            repr(now),
            max(1, int(realert_s * 1000) + 60_000),
        ]
        return _text(await self._admit(keys=keys, args=args))

    async def claimed(self, receiver: str, dedup: str) -> bool:
        """Return whether ``dedup`` was claimed for ``receiver``."""
        return bool(await self.client.exists(self.claim_key(receiver, dedup)))

    async def enqueue(self, message: Mapping[str, Any]) -> None:
        """Queue a message without a claim (a requeue, or a test)."""
        keys = [self.key("msg"), self.queue_key(message["dest"]), self.key("dests"), self.key("stats")]
        await self._enqueue(keys=keys, args=[message["id"], json.dumps(message), message["dest"]])

    # --- groups -------------------------------------------------------------------------------

    async def due_groups(self, now: float | None) -> list[str]:
        """Return the groups due at ``now`` (every group when ``now`` is None)."""
        top = "+inf" if now is None else repr(now)
        return [_text(g) for g in await self.client.zrangebyscore(self.groups_key, "-inf", top)]

    async def group_entries(self, group: str) -> list[str]:
        """Return the raw entries buffered in ``group``, oldest first."""
        return [_text(e) for e in await self.client.lrange(self.group_key(group), 0, -1)]

    async def flush_group(
        self, group: str, entries: Sequence[str], messages: Sequence[Mapping[str, Any]], now: float
    ) -> bool:
        """Replace the first ``len(entries)`` buffered entries with ``messages`` in the queues, atomically.

        Return False (doing nothing) when another worker flushed them first.
        """
        if not entries:
            await self.client.zrem(self.groups_key, group)
            return True
        keys = [self.group_key(group), self.groups_key, self.key("msg"), self.key("stats"), self.key("dests")]
        keys += [self.queue_key(m["dest"]) for m in messages]
        args: list[Any] = [len(entries), entries[0], entries[-1], group, repr(now), len(messages)]
        for m in messages:
            args += [m["id"], json.dumps(m), m["dest"]]
        return bool(await self._flush(keys=keys, args=args))

    async def group_depth(self) -> int:
        """Return the number of alerts waiting in group buffers."""
        total = 0
        for group in await self.due_groups(None):
            total += int(await self.client.llen(self.group_key(group)))
        return total

    # --- sending ------------------------------------------------------------------------------

    async def destinations(self) -> list[str]:
        """Return the destinations with queued messages."""
        return sorted(_text(d) for d in await self.client.smembers(self.key("dests")))

    async def lease(self, dest: str, token: str, ttl_s: float) -> bool:
        """Take or renew the right to send to ``dest`` for ``ttl_s`` seconds; False when another worker holds it."""
        return bool(await self._lease(keys=[self.key("lease", dest)], args=[token, max(1, int(ttl_s * 1000))]))

    async def release(self, dest: str, token: str) -> None:
        """Give up the lease of ``dest`` if this token holds it."""
        await self._release(keys=[self.key("lease", dest)], args=[token])

    async def turn(self, dest: str, token: str, ttl_s: float) -> Turn:
        """Take or renew the lease of ``dest`` and read its head and gates, as ``lease``, ``head``, ``gates``,
        ``inflight`` and ``attempts`` would, in one step; only ``held`` is set when another worker holds it."""
        keys = [self.key("lease", dest), self.queue_key(dest), self.key("msg"), self.key("next"), self.key("paced"),
                self.key("inflight"), self.key("attempts")]
        reply = await self._turn(keys=keys, args=[token, max(1, int(ttl_s * 1000)), dest])
        if not int(reply[0]):
            return Turn(held=False)
        if len(reply) < 2:
            return Turn(held=True)
        ident, raw, nxt, paced, inflight, attempts = (list(reply[1:]) + [None] * 6)[:6]
        return Turn(
            held=True,
            ident=_text(ident),
            message=json.loads(_text(raw)) if raw is not None else None,
            next_at=_float(nxt),
            paced_at=_float(paced),
            inflight=json.loads(_text(inflight)) if inflight is not None else None,
            attempts=int(_text(attempts)) if attempts is not None else 0,
        )

    async def head(self, dest: str) -> tuple[str, dict[str, Any] | None] | None:
        """Return the next message of ``dest`` as (id, message), or None when its queue is empty."""
        raw_id = await self.client.lindex(self.queue_key(dest), 0)
        if raw_id is None:
            return None
        ident = _text(raw_id)
        raw = await self.client.hget(self.key("msg"), ident)
        return ident, (json.loads(_text(raw)) if raw is not None else None)

    async def gates(self, dest: str) -> tuple[float, float]:
        """Return (next allowed attempt, last attempt) epochs of ``dest`` (0 when none)."""
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.hget(self.key("next"), dest)
            pipe.hget(self.key("paced"), dest)
            nxt, paced = await pipe.execute()
        return (float(_text(nxt)) if nxt else 0.0, float(_text(paced)) if paced else 0.0)

    async def inflight(self, ident: str) -> dict[str, Any] | None:
        """Return the record of an attempt of ``ident`` whose answer is unknown, or None."""
        raw = await self.client.hget(self.key("inflight"), ident)
        return json.loads(_text(raw)) if raw is not None else None

    async def begin(self, dest: str, ident: str, token: str, *, now: float, attempt: int, ttl_s: float) -> bool:
        """Record an attempt as in flight (and the pacing time) while holding the lease at the head of the queue,
        renewing the lease for ``ttl_s``."""
        record = json.dumps({"token": token, "started": now, "attempt": attempt})
        keys = [self.key("lease", dest), self.queue_key(dest), self.key("inflight"), self.key("paced")]
        args = [token, ident, dest, record, repr(now), max(1, int(ttl_s * 1000))]
        return int(await self._begin(keys=keys, args=args)) == 1

    async def _finish(
        self,
        dest: str,
        ident: str,
        token: str,
        mode: str,
        *,
        now: float,
        rule: str = "",
        record: str = "",
        reason: str = "",
    ) -> int:
        keys = [
            self.key("lease", dest),
            self.queue_key(dest),
            self.key("msg"),
            self.key("inflight"),
            self.key("attempts"),
            self.key("next"),
            self.key("stats"),
            self.key("last"),
            self.key("dests"),
            self.key("parked"),
            self.key("parked_msg"),
        ]
        return int(await self._done(keys=keys, args=[token, ident, dest, mode, repr(now), rule, record, reason]))

    async def ack(self, dest: str, ident: str, token: str, *, now: float, rule: str, confirmed: bool = False) -> int:
        """Remove a delivered message; 1 done, 0 lease lost, -1 not at the head any more."""
        return await self._finish(dest, ident, token, "confirmed" if confirmed else "sent", now=now, rule=rule)

    async def park(
        self, dest: str, ident: str, token: str, *, now: float, reason: str, detail: str = "", status: int | None = None
    ) -> int:
        """Move a message that will not be retried to the parked hash with its reason; 1 when done."""
        record = json.dumps({"dest": dest, "reason": reason, "detail": detail, "status": status, "parked_at": now})
        return await self._finish(dest, ident, token, "parked", now=now, record=record, reason=reason)

    async def drop(self, dest: str, ident: str, token: str, *, now: float) -> int:
        """Remove a head id whose message is missing (counted as dropped)."""
        return await self._finish(dest, ident, token, "dropped", now=now)

    async def defer(self, dest: str, ident: str, *, until: float, count: bool, keep_inflight: bool) -> int:
        """Hold ``dest`` until ``until``; count a failed attempt of ``ident`` when ``count``; return attempts so far."""
        keys = [self.key("next"), self.key("attempts"), self.key("stats"), self.key("inflight")]
        args = [dest, repr(until), ident, int(count), int(keep_inflight)]
        return int(await self._defer(keys=keys, args=args))

    async def attempts(self, ident: str) -> int:
        """Return the failed attempts of ``ident`` so far."""
        raw = await self.client.hget(self.key("attempts"), ident)
        return int(_text(raw)) if raw is not None else 0

    # --- channel ids --------------------------------------------------------------------------

    async def channel_id(self, receiver: str) -> str | None:
        """Return the Slack channel id learnt for ``receiver``."""
        raw = await self.client.hget(self.key("channel_ids"), receiver)
        return _text(raw) if raw is not None else None

    async def set_channel_id(self, receiver: str, channel_id: str) -> None:
        """Remember the Slack channel id of ``receiver``."""
        await self.client.hset(self.key("channel_ids"), receiver, channel_id)

    # --- posts ------------------------------------------------------------------------------

    def post_key(self, dest: str, dedup: str) -> str:
        """Return the key of the Slack ``ts`` of an alert's first post to ``dest``."""
        return self.key("post", dest, dedup)

    async def remember_post(self, dest: str, dedups: Sequence[str], ts: str, *, ttl_s: float) -> None:
        """Record ``ts`` as the first post of each alert ``dedups`` to ``dest`` (a later post leaves it)."""
        if not dedups:
            return
        async with self.client.pipeline(transaction=False) as pipe:
            for dedup in dedups:
                pipe.set(self.post_key(dest, dedup), ts, nx=True, px=max(1, int(ttl_s * 1000)))
            await pipe.execute()

    async def post_ts(self, dest: str, dedup: str) -> str | None:
        """Return the Slack ``ts`` of the first post of the alert ``dedup`` to ``dest``, None when not known."""
        raw = await self.client.get(self.post_key(dest, dedup))
        return _text(raw) if raw is not None else None

    # --- inspection ---------------------------------------------------------------------------

    async def depths(self) -> dict[str, int]:
        """Return the queued messages per destination."""
        dests = await self.destinations()
        if not dests:
            return {}
        async with self.client.pipeline(transaction=False) as pipe:
            for dest in dests:
                pipe.llen(self.queue_key(dest))
            counts = await pipe.execute()
        return {d: int(c) for d, c in zip(dests, counts, strict=True) if int(c)}

    async def queued(self, dest: str) -> list[dict[str, Any]]:
        """Return the queued messages of ``dest`` in order."""
        ids = [_text(i) for i in await self.client.lrange(self.queue_key(dest), 0, -1)]
        if not ids:
            return []
        raws = await self.client.hmget(self.key("msg"), ids)
        return [json.loads(_text(r)) for r in raws if r is not None]

    async def parked(self) -> list[Parked]:
        """Return the parked messages, oldest first."""
        records = {_text(k): json.loads(_text(v)) for k, v in (await self.client.hgetall(self.key("parked"))).items()}
        if not records:
            return []
        idents = sorted(records, key=lambda i: float(records[i]["parked_at"]))
        raws = await self.client.hmget(self.key("parked_msg"), idents)
        return [
            Parked(
                i,
                json.loads(_text(raw)) if raw is not None else {},
                records[i]["reason"],
                records[i].get("detail", ""),
                records[i].get("status"),
                float(records[i]["parked_at"]),
            )
            for i, raw in zip(idents, raws, strict=True)
        ]

    async def requeue(self, ident: str) -> bool:
        """Put a parked message back at the end of its destination's queue; False when no such parked message."""
        raw = await self.client.hget(self.key("parked"), ident)
        if raw is None:
            return False
        dest = json.loads(_text(raw))["dest"]
        keys = [
            self.key("parked"),
            self.key("msg"),
            self.key("dests"),
            self.key("stats"),
            self.key("parked_msg"),
            self.queue_key(dest),
        ]
        return bool(await self._requeue(keys=keys, args=[ident, dest]))

    async def counts(self) -> dict[str, int]:
        """Return the counters (enqueued, sent, parked, parked:<reason>, deduplicated, ...)."""
        raw = await self.client.hgetall(self.key("stats"))
        return {_text(k): int(_text(v)) for k, v in raw.items()}

    async def count(self, name: str, by: int = 1) -> None:
        """Add ``by`` to the counter ``name``."""
        await self.client.hincrby(self.key("stats"), name, by)

    async def last_sent(self) -> dict[str, str]:
        """Return the last message sent: at, dest, rule, id (empty when none)."""
        return {_text(k): _text(v) for k, v in (await self.client.hgetall(self.key("last"))).items()}
