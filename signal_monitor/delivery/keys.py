"""Where delivery keeps its state in Redis: every key under the one Redis Cluster hash tag ``{delivery}``.

Every delivery key starts with ``<key_prefix>:{delivery}:`` (``B`` below)::

    B:outbox:...          the outbox (see ``outbox.py``): queues, messages, leases, claims, parked, counters
    B:noise:groups        zset of group due times; B:noise:group:<route> the group buffers
    B:noise:realert:...   when a rule and scope were last queued for a receiver
    B:noise:inhibit:<n>   inhibition sources of inhibit rule n
    B:silences            the silences

One tag, so one hash slot for all of delivery. Each outbox step is one Lua script, and which keys it
touches depends on the alert, so no finer split would keep them together: admitting an alert touches its
claim, its realert key, a destination's queue or a group buffer, and the message hash, destinations set and
counters shared by every destination; flushing a group fills the queues of several destinations; parking
and requeueing move a message between a queue and the parked hashes. On a Redis Cluster every key of a
script must be in one slot (and be declared in KEYS). Delivery's traffic is small (alerts fire when periods
close, and each receiver is paced, one message a second by default), so one slot, that is one master,
carries it easily; the cost is that delivery's keys do not spread over the cluster and wait with that slot
while its master fails over. Ingest and series state keep their own tags (per input partition, per series)
and spread.

The layout before the tag kept the same keys without it (``<key_prefix>:outbox:...``,
``<key_prefix>:noise:...``, ``<key_prefix>:silences``). On a single Redis, ``migrate_legacy_keys`` moves
them under the tag; the dispatcher calls it before its first submit or send, so an upgrade carries queued
and parked messages, claims, realert and inhibition times and silences over. On a Redis Cluster there is
nothing to move: the layout without the tag could not run there.
"""

from __future__ import annotations

import re
from typing import Any

import redis.asyncio as aioredis

DELIVERY_TAG = "{delivery}"

#: Markers of the layout before the tag: the counters exist once anything was queued, the silences once one
#: was added. Moved last, so a migration cut short is found and finished at the next start.
_LEGACY_MARKERS = ("outbox:stats", "silences")
_LEGACY_PATTERNS = ("outbox:*", "noise:*")

_MOVE = """
-- KEYS: a key of the layout before the hash tag, its name under the tag ; ARGV: 'sum' for counters
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind == 'none' then return 0 end
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('RENAME', KEYS[1], KEYS[2])
  return 1
end
if kind == 'hash' then
  local fields = redis.call('HGETALL', KEYS[1])
  for i = 1, #fields, 2 do
    if ARGV[1] == 'sum' then
      redis.call('HINCRBY', KEYS[2], fields[i], fields[i + 1])
    else
      redis.call('HSETNX', KEYS[2], fields[i], fields[i + 1])
    end
  end
elseif kind == 'list' then
  local items = redis.call('LRANGE', KEYS[1], 0, -1)
  for i = #items, 1, -1 do redis.call('LPUSH', KEYS[2], items[i]) end
elseif kind == 'set' then
  for _, member in ipairs(redis.call('SMEMBERS', KEYS[1])) do redis.call('SADD', KEYS[2], member) end
elseif kind == 'zset' then
  local items = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
  for i = 1, #items, 2 do redis.call('ZADD', KEYS[2], 'LT', items[i + 1], items[i]) end
end
redis.call('DEL', KEYS[1])
return 2
"""


def delivery_base(prefix: str) -> str:
    """Return ``<prefix>:{delivery}``, the start of every delivery key (one hash slot on a cluster)."""
    return f"{prefix}:{DELIVERY_TAG}"


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


async def legacy_layout_present(client: aioredis.Redis | aioredis.RedisCluster, prefix: str) -> bool:
    """Return whether delivery state of the layout before the hash tag is in Redis (never on a cluster)."""
    if isinstance(client, aioredis.RedisCluster):
        return False
    return bool(await client.exists(*(f"{prefix}:{name}" for name in _LEGACY_MARKERS)))


async def migrate_legacy_keys(client: aioredis.Redis | aioredis.RedisCluster, prefix: str) -> int:
    """Move delivery keys of the layout before the hash tag under it (single Redis); return how many moved.

    Cheap when there is nothing to move (one EXISTS); otherwise one SCAN of the database. Each key moves in
    one script: renamed when its new name is free, else merged into it: hashes field by field (the newer
    value kept; counters added up), lists with the older entries first (queues stay in order), sets and
    zsets member by member (a group keeps its earlier due time), and strings (claims, realert times) left to
    the newer key. Leases are dropped: they belong to workers of the old layout. Two workers migrating at
    once move each key once. A worker of the old layout still running keeps writing the old names; the next
    start of a worker moves what it left.
    """
    if not await legacy_layout_present(client, prefix):
        return 0
    move = client.register_script(_MOVE)
    base = delivery_base(prefix)
    head = f"{prefix}:"
    lease = f"{prefix}:outbox:lease:"
    markers = {f"{prefix}:{name}" for name in _LEGACY_MARKERS}
    found: list[str] = []
    for pattern in _LEGACY_PATTERNS:
        async for raw in client.scan_iter(match=_glob_escape(head) + pattern, count=1000):
            name = _text(raw)
            if name not in markers:
                found.append(name)
    moved = 0
    for name in sorted(found) + sorted(markers):
        if name.startswith(lease):
            await client.delete(name)
            continue
        mode = "sum" if name == f"{prefix}:outbox:stats" else ""
        if int(await move(keys=[name, base + name[len(prefix) :]], args=[mode])):
            moved += 1
    return moved
