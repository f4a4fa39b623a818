"""The Redis ``State``: one Lua call per batch, exactly once per partition offset.

Key layout (``P`` is the key prefix; ``{...}`` is the Redis Cluster hash tag):

* ingest, tagged by input partition so one batch is one atomic script on one slot:
  ``P:{<topic>:<p>}:mark`` (hash: offset, watermark, updated, worker, hw, and ``closing``: the
  newest day whose close started, written by the closer before it reads the day),
  ``P:{<topic>:<p>}:reopen`` (hash period key -> offset of the newest batch that reopened it,
  written by the apply script when a batch changes a period whose close started),
  ``P:{<topic>:<p>}:seen:<YYYY-MM-DD>`` (set of the trade ids whose event time falls on
  that UTC day; see *Trade ids* below),
  ``P:{<topic>:<p>}:flow:<week>`` (hash ``scope\\x1ffield`` -> sum),
  ``P:{<topic>:<p>}:exp:<day>`` (hash fund -> ``ts\\x1fjson``),
  ``P:{<topic>:<p>}:quote:<day>`` (hash symbol -> ``ts\\x1fprice\\x1fclose``),
  ``P:{<topic>:<p>}:obs:<day>`` (hash series -> ``ts\\x1fvalue``);
  ``P:parts:<topic>`` (set of partitions that hold data); ingest keys expire once
  no late event can reach them.
* series, tagged by series: ``P:{s:<series id>}`` (zset, score = the period's
  ordinal day, member ``<iso date>\\x1f<value>``); ``P:series`` (set of series ids);
  ``P:series-units`` (hash observation series name -> the unit its events give: series
  metadata, one field per series, written after the batch that carried it).
* rules: ``P:rule:<rule id>`` (hash scope -> JSON), ``P:claim:<key>`` (SET NX PX).
* the week's note: ``P:note:<week>`` (the note's JSON), ``P:note:<week>:alerts`` (hash rule|scope|period ->
  ``<revision>\\x1f<alert JSON>``, the highest revision kept), ``P:notes`` (zset of the weeks with a note,
  score = the Friday's ordinal day). They keep no expiry: a week's note stays, as the series do.
* leases and fencing (see ``State.lease``), in the slot of ``P:rule:__closer__`` (the closer's
  progress), so that its writes check the lease in the same script: ``{P:rule:__closer__}:lease:<name>``
  (the token, PX), ``{P:rule:__closer__}:lease-seq`` (the last token given), and the emit claims
  ``{P:rule:__closer__}:emit:<dedup key>`` (``pending:<token>`` or ``sent``). Every other key a close
  writes has a fence beside it, in its own slot: ``P:{s:<series id>}:fence`` and
  ``{P:rule:<rule id>}:fence`` (hash lease name -> the highest token that wrote the key, the 32
  newest names kept).

Trade ids: a batch is refused (``seen``) when one of its trade ids is in the bucket
of its partition and of the UTC day of its event time; a resent trade carries the
same event time, so it meets its first copy in the same bucket. The script checks
each bucket the batch touches (SMISMEMBER), adds the ids (SADD) and sets the
bucket's expiry to ``dedup_ttl`` after the later of the day's end and now: a live
bucket lasts until ``dedup_ttl`` after its day ends, and one of replayed history
(a day long past) lasts ``dedup_ttl`` after its last write, so it still catches
resends within the replay. A replay moves the event time faster than the clock,
so each batch also drops the buckets of the two days whose end just fell
``dedup_ttl`` behind the batch's newest event time: an event that old is past the
lateness allowance (when ``lateness <= dedup_ttl``) and is dead-lettered before it
reaches the store. The same trade id under another event day, or on another
partition, is not recognised.

The layout before day buckets kept one zset per partition, ``P:{<topic>:<p>}:seen``
(trade id -> event time). While one exists, the script also consults it, trims it
below the batch's event time minus ``dedup_ttl`` as before, and gives it an expiry
of ``dedup_ttl``, so resends across the upgrade are caught and the zset goes away.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from datetime import date
from functools import lru_cache
from typing import Any

import redis.asyncio as aioredis

from signal_monitor.series import FundSnapshot
from signal_monitor.state.base import (
    FENCE,
    LEASE_HOME,
    ApplyResult,
    Batch,
    Fence,
    FenceRefused,
    PartitionMark,
    Point,
    State,
    reopen_candidates,
)
from signal_monitor.state.memory import snapshot_from_json

SEP = "\x1f"
DAY_S = 86400
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


@lru_cache(maxsize=4096)
def utc_day(n: int) -> str:
    """Return the ISO date of UTC day ``n`` (days since 1970-01-01), which names a trade-id bucket."""
    return date.fromordinal(_EPOCH_ORDINAL + n).isoformat()


APPLY_LUA = r"""
local p = cjson.decode(ARGV[1])
local mark = KEYS[1]
-- Every read and check comes before the first write. Redis keeps what a script wrote before it failed
-- (a key of another type, a stored value that does not parse): trade ids added to the seen sets would
-- turn the retry of the batch into a resend, dropped. So the script fails having written nothing.
local function number(text)
  local n = tonumber(text)
  if n == nil or n ~= n or n == math.huge or n == -math.huge then return nil end
  return n
end
local m = redis.call('HMGET', mark, 'offset', 'watermark', 'closing')
local stored, wm = -1, 0
if m[1] then
  stored = number(m[1])
  if not stored then return redis.error_reply('unparsable offset in ' .. mark .. ': ' .. m[1]) end
end
if m[2] then
  wm = number(m[2])
  if not wm then return redis.error_reply('unparsable watermark in ' .. mark .. ': ' .. m[2]) end
end
-- p.base: the offset the batch's records follow in what the consumer fetched (absent: not checked);
-- a store behind it lost batches it had acknowledged
if p.base and stored < p.base then return {0, stored, 'gap'} end
if p.first <= stored or (p.base and stored > p.base) then return {0, stored, 'stale'} end
-- p.seen: one entry per UTC event day of the batch's trades: {key index, expire seconds, {ids}}
local days = p.seen
local has_legacy = false
if #days > 0 then
  local known = {}
  for _, k in ipairs(p.known) do known[k] = true end
  -- the zset of the layout before day buckets, consulted until it is gone
  local legacy = KEYS[2]
  has_legacy = redis.call('EXISTS', legacy) == 1
  local dup = {}
  for _, d in ipairs(days) do
    local key, ids = KEYS[d[1]], d[3]
    local n = #ids
    for i = 1, n, 1000 do
      local last = math.min(i + 999, n)
      local hit = redis.call('SMISMEMBER', key, unpack(ids, i, last))
      local old = has_legacy and redis.call('ZMSCORE', legacy, unpack(ids, i, last))
      for j = 1, #hit do
        local id = ids[i + j - 1]
        if (hit[j] == 1 or (old and old[j])) and not known[id] then dup[#dup + 1] = id end
      end
    end
  end
  if #dup > 0 then
    local out = {0, stored, 'seen'}
    for _, d in ipairs(dup) do out[#out + 1] = d end
    return out
  end
end
-- the flow sums the batch adds to: each key a hash, each stored sum a number (HINCRBYFLOAT would fail)
local fields = {}
for _, op in ipairs(p.flows) do
  local f = fields[op[1]]
  if not f then f = {}; fields[op[1]] = f end
  f[#f + 1] = op[2]
end
for k, f in pairs(fields) do
  local n = #f
  for i = 1, n, 1000 do
    local last = math.min(i + 999, n)
    local vals = redis.call('HMGET', KEYS[k], unpack(f, i, last))
    for j = 1, last - i + 1 do
      if vals[j] and not number(vals[j]) then
        return redis.error_reply('unparsable sum in ' .. KEYS[k] .. ' ' .. f[i + j - 1] .. ': ' .. vals[j])
      end
    end
  end
end
-- latest values: op = key index, field, ts, value text, rank (a higher rank wins before the time)
local take = {}
for i, op in ipairs(p.latest) do
  local key = KEYS[op[1]]
  local old = redis.call('HGET', key, op[2])
  take[i] = true
  if old then
    local sep = string.find(old, '\31', 1, true)
    local sep2 = sep and string.find(old, '\31', sep + 1, true)
    local old_ts = sep and number(string.sub(old, 1, sep - 1))
    local old_rank = sep2 and number(string.sub(old, sep + 1, sep2 - 1))
    if not old_ts or not old_rank then
      return redis.error_reply('unparsable value in ' .. key .. ' ' .. op[2] .. ': ' .. old)
    end
    if old_rank > op[5] or (old_rank == op[5] and old_ts > op[3]) then take[i] = false end
  end
end
-- the periods the batch changes whose close has started (m[3]: the newest such day, set by the closer
-- before it reads a day's aggregates): listed as reopened with the batch, under the partition's tag
local reopened = {}
if m[3] then
  for _, c in ipairs(p.reopen) do
    if c[2] <= m[3] then reopened[#reopened + 1] = c[1] end
  end
  if #reopened > 0 then redis.call('HLEN', KEYS[p.reopen_key]) end  -- a key of another type fails here
end
-- writes from here on
for _, d in ipairs(days) do
  local key, ids = KEYS[d[1]], d[3]
  local n = #ids
  for i = 1, n, 1000 do redis.call('SADD', key, unpack(ids, i, math.min(i + 999, n))) end
  redis.call('EXPIRE', key, d[2])
end
if has_legacy then
  local legacy = KEYS[2]
  redis.call('ZREMRANGEBYSCORE', legacy, '-inf', p.wm - p.dedup_ttl)
  if redis.call('TTL', legacy) == -1 then redis.call('EXPIRE', legacy, p.dedup_ttl) end
end
-- day buckets the event time has moved dedup_ttl past (never one of this batch's days)
for _, k in ipairs(p.evict) do redis.call('UNLINK', KEYS[k]) end
local ttl = p.ttl
local touched = {}
for _, op in ipairs(p.flows) do
  local key = KEYS[op[1]]
  redis.call('HINCRBYFLOAT', key, op[2], op[3])
  touched[key] = true
end
for i, op in ipairs(p.latest) do
  local key = KEYS[op[1]]
  if take[i] then
    redis.call('HSET', key, op[2], op[3] .. '\31' .. op[5] .. '\31' .. op[4])
  end
  touched[key] = true
end
for key, _ in pairs(touched) do redis.call('EXPIRE', key, ttl) end
if p.wm > wm then wm = p.wm end
redis.call('HSET', mark, 'offset', p.last, 'watermark', string.format('%.6f', wm), 'updated', p.now, 'worker', p.who)
if p.hw >= 0 then redis.call('HSET', mark, 'hw', p.hw) end
local out = {1, p.last, 'ok'}
if #reopened > 0 then
  local rk = KEYS[p.reopen_key]
  for _, pk in ipairs(reopened) do
    redis.call('HSET', rk, pk, p.last)
    out[#out + 1] = pk
  end
  redis.call('EXPIRE', rk, ttl)
end
return out
"""

CLOSING_LUA = r"""
-- the newest day whose close started, in a partition's mark: never moved back
local c = redis.call('HGET', KEYS[1], 'closing')
if (not c) or c < ARGV[1] then redis.call('HSET', KEYS[1], 'closing', ARGV[1]) end
return 1
"""

DROP_REOPENED_LUA = r"""
-- ARGV: period key, offset, ...; drop an entry recomputed up to that offset (a newer batch's entry stays)
local n = 0
for i = 1, #ARGV, 2 do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  if v and tonumber(v) <= tonumber(ARGV[i + 1]) then n = n + redis.call('HDEL', KEYS[1], ARGV[i]) end
end
return n
"""

UPSERT_LUA = r"""
-- ARGV: score, member, score, member, ... ; one point per score (a period)
for i = 1, #ARGV, 2 do
  redis.call('ZREMRANGEBYSCORE', KEYS[1], ARGV[i], ARGV[i])
  redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1])
end
return #ARGV / 2
"""

# --- leases and fencing ----------------------------------------------------------------------

LEASE_LUA = r"""
-- KEYS: lease, token sequence (one slot); ARGV: ttl ms. Returns the new fencing token, 0 when held
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local t = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], t, 'PX', ARGV[1])
return t
"""

RENEW_LUA = r"""
-- KEYS: lease; ARGV: token, ttl ms
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

#: Lua: the fence check of a key written under a lease (ARGV[1..4]: mode, lease name, token, fence ttl ms).
#: mode "lease": KEYS[2] is the lease itself (same slot): refused unless it holds the token.
#: mode "key": KEYS[2] is the written key's fence (lease name -> highest token that wrote it):
#: refused when a higher token of the same lease wrote it; else the token is recorded.
#: mode "": not fenced.
FENCE_LUA = r"""
local function fence_ok()
  local mode = ARGV[1]
  if mode == 'lease' then
    return redis.call('GET', KEYS[2]) == ARGV[3]
  end
  if mode ~= 'key' then return true end
  local fk, name, token = KEYS[2], ARGV[2], tonumber(ARGV[3])
  local t = redis.call('HGET', fk, name)
  if t and tonumber(t) > token then return false end
  redis.call('HSET', fk, name, token)
  if redis.call('HLEN', fk) > 32 then
    local all = redis.call('HGETALL', fk)
    local low, lowname = nil, nil
    for i = 1, #all, 2 do
      local v = tonumber(all[i + 1])
      if low == nil or v < low then low, lowname = v, all[i] end
    end
    redis.call('HDEL', fk, lowname)
  end
  redis.call('PEXPIRE', fk, ARGV[4])
  return true
end
"""

FENCED_UPSERT_LUA = FENCE_LUA + r"""
-- KEYS: series, its fence; ARGV[5..]: score, member, ...; one point per score (a period)
if not fence_ok() then return -1 end
for i = 5, #ARGV, 2 do
  redis.call('ZREMRANGEBYSCORE', KEYS[1], ARGV[i], ARGV[i])
  redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1])
end
return (#ARGV - 4) / 2
"""

FENCED_HSET_LUA = FENCE_LUA + r"""
-- KEYS: rule-state hash, its fence or the lease; ARGV[5], ARGV[6]: scope, JSON
if not fence_ok() then return -1 end
redis.call('HSET', KEYS[1], ARGV[5], ARGV[6])
return 1
"""

EMIT_LUA = r"""
-- KEYS: the lease, the emit claim (one slot); ARGV: token ('' not fenced), ttl ms
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then return 'refused' end
local old = redis.call('GET', KEYS[2])
if old == 'sent' then return 'sent' end
redis.call('SET', KEYS[2], 'pending:' .. ARGV[1], 'PX', ARGV[2])
if old then return 'again' end
return 'new'
"""

NOTE_ALERT_LUA = r"""
-- KEYS: the week's alerts hash; ARGV: key, revision, revision .. SEP .. JSON; keeps the highest revision
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then
  local rev = tonumber(string.match(old, '^(%d+)'))
  if rev and rev > tonumber(ARGV[2]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
"""

#: How long a fence beside a written key lives after its last fenced write (30 days).
FENCE_TTL_MS = 30 * 86400 * 1000


class RedisState(State):
    """State in Redis (a single server or a cluster node set reached through one client)."""

    def __init__(
        self,
        client: aioredis.Redis | aioredis.RedisCluster,
        *,
        prefix: str = "sm",
        lateness_s: float = 7 * 86400,
        dedup_ttl_s: float = 14 * 86400,
        topic_prefix: str = "signals",
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.topic_prefix = topic_prefix
        self.lateness_s = lateness_s
        self.dedup_ttl_s = dedup_ttl_s
        # ingest keys live until no late event can reach them, plus room for re-evaluation
        self.ingest_ttl_s = int(lateness_s + 21 * 86400)
        # a cluster pipeline runs neither MULTI across slots nor scripts
        self.cluster = isinstance(client, aioredis.RedisCluster)
        self._listed: set[tuple[str, int]] = set()  # partitions this client listed in ``P:parts:<topic>``
        self._apply = client.register_script(APPLY_LUA)
        self._upsert = client.register_script(UPSERT_LUA)
        self._closing = client.register_script(CLOSING_LUA)
        self._drop_reopened = client.register_script(DROP_REOPENED_LUA)
        self._lease = client.register_script(LEASE_LUA)
        self._renew = client.register_script(RENEW_LUA)
        self._fenced_upsert = client.register_script(FENCED_UPSERT_LUA)
        self._fenced_hset = client.register_script(FENCED_HSET_LUA)
        self._emit = client.register_script(EMIT_LUA)
        self._note_alert = client.register_script(NOTE_ALERT_LUA)

    @classmethod
    def from_url(
        cls, url: str, *, password: str | None = None, cluster: bool | None = None, **kwargs: Any
    ) -> "RedisState":
        """Return a RedisState connected to ``url`` (redis:// or rediss://; a cluster when it is one)."""
        from signal_monitor.state.connect import redis_client

        return cls(redis_client(url, password=password, cluster=cluster), **kwargs)

    # --- keys -----------------------------------------------------------------------
    def _tag(self, topic: str, partition: int) -> str:
        return f"{self.prefix}:{{{topic}:{partition}}}"

    def _series_key(self, sid: str) -> str:
        return f"{self.prefix}:{{s:{sid}}}"

    def _rule_key(self, rule_id: str) -> str:
        return f"{self.prefix}:rule:{rule_id}"

    def _home(self) -> str:
        """Return the hash tag of the leases: the slot of the closer's rule state (``LEASE_HOME``)."""
        return f"{{{self._rule_key(LEASE_HOME)}}}"

    def _lease_key(self, name: str) -> str:
        return f"{self._home()}:lease:{name}"

    def _bucket_ttl(self, day: int, now: float) -> int:
        """Return how long a trade-id bucket of UTC day ``day`` lives from ``now``, in whole seconds.

        That is ``dedup_ttl`` past the later of the day's end and ``now``.
        """
        return int(self.dedup_ttl_s + max(0.0, (day + 1) * DAY_S - now)) + 1

    # --- ingest ---------------------------------------------------------------------
    async def apply(self, batch: Batch) -> ApplyResult:
        """Apply a batch in one Lua call unless its offsets are applied already."""
        tag = self._tag(batch.topic, batch.partition)
        keys = [f"{tag}:mark", f"{tag}:seen"]  # the second: the zset of the layout before day buckets
        index: dict[str, int] = {}

        def key_no(name: str) -> int:
            n = index.get(name)
            if n is None:
                keys.append(f"{tag}:{name}")
                n = index[name] = len(keys)
            return n

        now = time.time()
        by_day: dict[int, list[str]] = {}
        for trade_id, t in batch.trade_ids.items():
            n = int(t // DAY_S)
            ids = by_day.get(n)
            if ids is None:
                ids = by_day[n] = []
            ids.append(trade_id)
        seen = [(key_no(f"seen:{utc_day(n)}"), self._bucket_ttl(n, now), ids) for n, ids in by_day.items()]
        evict = []
        if by_day:
            # the newest day whose end is dedup_ttl behind the batch's event time, and the day before
            gone = int((batch.watermark - self.dedup_ttl_s) // DAY_S) - 1
            evict = [key_no(f"seen:{utc_day(n)}") for n in (gone - 1, gone) if n not in by_day]
        flows = []
        for week, scopes in batch.flows.items():
            k = key_no(f"flow:{week}")
            for scope, fields in scopes.items():
                for name, inc in fields.items():
                    flows.append((k, f"{scope}{SEP}{name}", repr(inc)))
        latest: list[tuple[int, str, float, str, int]] = []
        for day, funds in batch.exposures.items():
            k = key_no(f"exp:{day}")
            latest.extend((k, fund, ts, snap, 0) for fund, (ts, snap) in funds.items())
        for day, symbols in batch.quotes.items():
            k = key_no(f"quote:{day}")
            latest.extend((k, sym, ts, repr(price), 1 if close else 0) for sym, (ts, price, close) in symbols.items())
        for day, series in batch.observations.items():
            k = key_no(f"obs:{day}")
            latest.extend((k, name, ts, repr(value), 0) for name, (ts, value) in series.items())
        reopen = reopen_candidates(batch)
        payload = {
            "first": batch.first_offset,
            "last": batch.last_offset,
            "wm": batch.watermark,
            "now": f"{now:.3f}",
            "who": batch.worker,
            "hw": batch.highwater,
            **({} if batch.base_offset is None else {"base": batch.base_offset}),
            "seen": seen,
            "evict": evict,
            "known": sorted(batch.known_seen),
            "dedup_ttl": int(self.dedup_ttl_s),
            "ttl": self.ingest_ttl_s,
            "flows": flows,
            "latest": latest,
            "reopen": reopen,
            "reopen_key": key_no("reopen") if reopen else 0,
        }
        encoded = json.dumps(payload, separators=(",", ":"))
        part = (batch.topic, batch.partition)
        if part not in self._listed:
            # listed before its data lands (another slot, so not in the script): a close that starts meanwhile
            # marks this partition's mark too (mark_closing), and its readers find the data once it is there.
            # Once per partition: the set is never trimmed, and a store that comes back without it comes
            # back without the partition's mark too, which refuses the next batch (below: listed again)
            await self.client.sadd(f"{self.prefix}:parts:{batch.topic}", batch.partition)
            self._listed.add(part)
        res = await self._apply(keys=keys, args=[encoded])
        applied, stored, status = int(res[0]), int(res[1]), res[2]
        if applied:
            await self.set_series_units(batch.units)
            return ApplyResult(applied=True, stored_offset=stored, reopened=tuple(res[3:]))
        if status == "seen":
            return ApplyResult(applied=False, stored_offset=stored, seen=tuple(res[3:]))
        self._listed.discard(part)
        if status == "gap":
            return ApplyResult(applied=False, gap=True, stored_offset=stored)
        return ApplyResult(applied=False, stale=True, stored_offset=stored)

    async def _partitions(self, topic: str) -> list[int]:
        return sorted(int(p) for p in await self.client.smembers(f"{self.prefix}:parts:{topic}"))

    async def marks(self, topic: str) -> dict[int, PartitionMark]:
        """Return the mark of every partition of ``topic`` that has one."""
        parts = await self._partitions(topic)
        async with self.client.pipeline(transaction=False) as pipe:
            for p in parts:
                pipe.hgetall(f"{self._tag(topic, p)}:mark")
            rows = await pipe.execute()
        return {p: self._mark_of(r) for p, r in zip(parts, rows) if r}

    async def _partitions_of(self, topics: Sequence[str]) -> list[tuple[str, int]]:
        """Return the listed partitions of ``topics`` as (topic, partition), in one round trip."""
        async with self.client.pipeline(transaction=False) as pipe:
            for topic in topics:
                pipe.smembers(f"{self.prefix}:parts:{topic}")
            listed = await pipe.execute()
        return [(topic, p) for topic, members in zip(topics, listed) for p in sorted(int(m) for m in members)]

    async def marks_of(self, topics: Sequence[str]) -> dict[tuple[str, int], PartitionMark]:
        """Return the mark of every partition of ``topics`` that has one: two round trips whatever their number."""
        parts = await self._partitions_of(topics)
        if not parts:
            return {}
        async with self.client.pipeline(transaction=False) as pipe:
            for topic, p in parts:
                pipe.hgetall(f"{self._tag(topic, p)}:mark")
            rows = await pipe.execute()
        return {part: self._mark_of(r) for part, r in zip(parts, rows) if r}

    @staticmethod
    def _mark_of(row: Mapping[str, str]) -> PartitionMark:
        return PartitionMark(
            offset=int(row.get("offset", -1)),
            watermark=float(row.get("watermark", 0)),
            updated=float(row.get("updated", 0)),
            worker=row.get("worker", ""),
            highwater=int(row.get("hw", -1)),
            closing=row.get("closing", ""),
        )

    async def mark_closing(self, topics: Sequence[str], day: str) -> None:
        """Record in the mark of every listed partition of ``topics`` that the close of ``day`` started."""
        keys = [f"{self._tag(t, p)}:mark" for t, p in await self._partitions_of(topics)]
        await self._each(self._closing, keys, [day])

    async def reopened(self, topic: str) -> dict[int, dict[str, int]]:
        """Return partition -> period key -> offset of the newest batch that reopened it."""
        parts = await self._partitions(topic)
        async with self.client.pipeline(transaction=False) as pipe:
            for p in parts:
                pipe.hgetall(f"{self._tag(topic, p)}:reopen")
            rows = await pipe.execute()
        return {p: {k: int(v) for k, v in row.items()} for p, row in zip(parts, rows) if row}

    async def drop_reopened(self, topic: str, partition: int, entries: Mapping[str, int]) -> None:
        """Drop the reopen entries of a partition recomputed up to the given offsets."""
        if entries:
            args = [x for pk, off in entries.items() for x in (pk, off)]
            await self._drop_reopened(keys=[f"{self._tag(topic, partition)}:reopen"], args=args)

    async def _each(self, script: Any, keys: Sequence[str], args: list[object]) -> None:
        """Run a one-key script on each key (a cluster pipeline refuses scripts: a few at a time there)."""
        if self.cluster:
            for start in range(0, len(keys), 32):
                await asyncio.gather(*(script(keys=[k], args=args) for k in keys[start : start + 32]))
        elif keys:
            async with self.client.pipeline(transaction=False) as pipe:
                for key in keys:
                    await script(keys=[key], args=args, client=pipe)
                await pipe.execute()

    async def register(self, topic: str, partition: int, *, highwater: int) -> None:
        """Record a partition's end offset in its mark and list the partition."""
        # two slots on a cluster: no MULTI; the mark is written first, so a listed partition has one
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.hset(f"{self._tag(topic, partition)}:mark", "hw", highwater)
            pipe.sadd(f"{self.prefix}:parts:{topic}", partition)
            await pipe.execute()
        self._listed.add((topic, partition))

    async def _gather(self, kind: str, name: str) -> list[dict[str, str]]:
        topic = f"{self.topic_prefix}.{kind}"
        parts = await self._partitions(topic)
        async with self.client.pipeline(transaction=False) as pipe:
            for p in parts:
                pipe.hgetall(f"{self._tag(topic, p)}:{name}")
            return await pipe.execute()

    @staticmethod
    def _latest(rows: list[dict[str, str]]) -> dict[str, tuple[float, int, str]]:
        out: dict[str, tuple[float, int, str]] = {}
        for row in rows:
            for field, text in row.items():
                ts, rank, value = text.split(SEP, 2)
                cand = (float(ts), int(rank), value)
                old = out.get(field)
                if old is None or (cand[1], cand[0]) >= (old[1], old[0]):
                    out[field] = cand
        return out

    async def flow_sums(self, week: date) -> dict[str, dict[str, float]]:
        """Return the week's flow sums over every partition: scope key -> field -> value."""
        out: dict[str, dict[str, float]] = {}
        for row in await self._gather("trades", f"flow:{week.isoformat()}"):
            for field, value in row.items():
                scope, _, name = field.rpartition(SEP)
                target = out.setdefault(scope, {})
                target[name] = target.get(name, 0.0) + float(value)
        return out

    async def exposure_snapshots(self, day: date) -> list[FundSnapshot]:
        """Return the latest snapshot of every fund that reported on ``day``."""
        latest = self._latest(await self._gather("exposures", f"exp:{day.isoformat()}"))
        return [snapshot_from_json(v[2]) for v in latest.values()]

    async def quotes(self, day: date) -> dict[str, tuple[float, bool]]:
        """Return symbol -> (price, is official close) for ``day``."""
        latest = self._latest(await self._gather("quotes", f"quote:{day.isoformat()}"))
        return {s: (float(v[2]), bool(v[1])) for s, v in latest.items()}

    async def observations(self, day: date) -> dict[str, float]:
        """Return series -> value observed on ``day``."""
        latest = self._latest(await self._gather("observations", f"obs:{day.isoformat()}"))
        return {s: float(v[2]) for s, v in latest.items()}

    # --- series -----------------------------------------------------------------------
    async def put_points(self, period: date, points: Mapping[str, float]) -> None:
        """Set the point of ``period`` in each series (fenced: see ``State.lease``)."""
        fence = FENCE.get()
        if fence is None:
            await self._put({sid: [(period, v)] for sid, v in points.items()})
            return
        head: list[object] = ["key", fence.name, fence.token, FENCE_TTL_MS]
        calls = []
        for sid, value in points.items():
            key = self._series_key(sid)
            calls.append(([key, f"{key}:fence"], [*head, period.toordinal(), f"{period.isoformat()}{SEP}{float(value)!r}"]))
        results: list[Any] = []
        if self.cluster:
            for start in range(0, len(calls), 32):
                results += await asyncio.gather(*(self._fenced_upsert(keys=k, args=a) for k, a in calls[start : start + 32]))
        elif calls:
            async with self.client.pipeline(transaction=False) as pipe:
                for k, a in calls:
                    await self._fenced_upsert(keys=k, args=a, client=pipe)
                pipe.sadd(f"{self.prefix}:series", *points)  # the same round trip
                results = (await pipe.execute())[:-1]
        if points and self.cluster:
            await self.client.sadd(f"{self.prefix}:series", *points)
        if any(int(r) < 0 for r in results):
            raise FenceRefused(fence, f"series points of {period.isoformat()}")

    async def put_series(self, sid: str, points: Sequence[Point]) -> None:
        """Set many points of one series; idempotent."""
        await self._put({sid: points})

    async def _put(self, by_series: Mapping[str, Sequence[Point]]) -> None:
        calls: list[tuple[str, list[object]]] = []
        for sid, points in by_series.items():
            key = self._series_key(sid)
            for start in range(0, len(points), 2000):
                args: list[object] = []
                for period, value in points[start : start + 2000]:
                    args.append(period.toordinal())
                    args.append(f"{period.isoformat()}{SEP}{float(value)!r}")
                calls.append((key, args))
        if self.cluster:
            # a cluster pipeline refuses scripts: one call per key, a few at a time
            for start in range(0, len(calls), 32):
                await asyncio.gather(*(self._upsert(keys=[k], args=a) for k, a in calls[start : start + 32]))
        elif calls:
            async with self.client.pipeline(transaction=False) as pipe:
                for key, args in calls:
                    await self._upsert(keys=[key], args=args, client=pipe)
                await pipe.execute()
        listed = [sid for sid, points in by_series.items() if points]
        if listed:
            await self.client.sadd(f"{self.prefix}:series", *listed)

    async def history(self, sid: str, *, since: date | None = None, until: date | None = None) -> list[Point]:
        """Return the points of a series with since <= period <= until, oldest first."""
        lo = since.toordinal() if since else "-inf"
        hi = until.toordinal() if until else "+inf"
        rows = await self.client.zrangebyscore(self._series_key(sid), lo, hi)
        out = []
        for member in rows:
            d, _, v = member.partition(SEP)
            out.append((date.fromisoformat(d), float(v)))
        return out

    async def series_ids(self, prefix: str) -> list[str]:
        """Return the ids of the stored series that start with ``prefix``, sorted."""
        return sorted(s for s in await self.client.smembers(f"{self.prefix}:series") if s.startswith(prefix))

    async def set_series_units(self, units: Mapping[str, str]) -> None:
        """Record the unit of each observation series in ``P:series-units`` (an empty unit is ignored)."""
        given = {name: unit for name, unit in units.items() if unit}
        if given:
            await self.client.hset(f"{self.prefix}:series-units", mapping=given)

    async def series_units(self, names: Sequence[str]) -> dict[str, str]:
        """Return the recorded unit of each named observation series that has one."""
        if not names:
            return {}
        found = await self.client.hmget(f"{self.prefix}:series-units", list(names))
        return {name: unit for name, unit in zip(names, found, strict=True) if unit}

    # --- rules --------------------------------------------------------------------------
    async def get_rule_state(self, rule_id: str, scope: str) -> dict[str, Any]:
        """Return the saved state of a rule for a scope."""
        raw = await self.client.hget(f"{self.prefix}:rule:{rule_id}", scope)
        return json.loads(raw) if raw else {}

    async def set_rule_state(self, rule_id: str, scope: str, value: Mapping[str, Any]) -> None:
        """Save the state of a rule for a scope (fenced: see ``State.lease``)."""
        key, text = self._rule_key(rule_id), json.dumps(value, default=str)
        fence = FENCE.get()
        if fence is None:
            await self.client.hset(key, scope, text)
            return
        if rule_id == LEASE_HOME:  # in the leases' slot: checked against the lease itself
            keys, mode = [key, self._lease_key(fence.name)], "lease"
        else:
            keys, mode = [key, f"{{{key}}}:fence"], "key"
        done = await self._fenced_hset(keys=keys, args=[mode, fence.name, fence.token, FENCE_TTL_MS, scope, text])
        if int(done) < 0:
            raise FenceRefused(fence, f"rule state {rule_id} {scope}")

    async def claim(self, key: str, *, ttl_s: float) -> bool:
        """Claim ``key`` for ``ttl_s`` seconds with SET NX; False when already claimed."""
        return bool(await self.client.set(f"{self.prefix}:claim:{key}", "1", nx=True, px=max(1, int(ttl_s * 1000))))

    # --- leases and fencing -----------------------------------------------------------------
    async def lease(self, name: str, *, ttl_s: float) -> int | None:
        """Take lease ``name``; return its fencing token (INCR of one sequence), None when held."""
        token = int(await self._lease(keys=[self._lease_key(name), f"{self._home()}:lease-seq"], args=[_ms(ttl_s)]))
        return token or None

    async def renew(self, name: str, token: int, *, ttl_s: float) -> bool:
        """Extend lease ``name`` if it is still held with ``token``."""
        return bool(int(await self._renew(keys=[self._lease_key(name)], args=[token, _ms(ttl_s)])))

    async def claim_emit(self, key: str, *, ttl_s: float) -> str:
        """Claim the hand-on of an alert under the fence: "new", "again" or "sent"."""
        fence: Fence | None = FENCE.get()
        keys = [self._lease_key(fence.name if fence else ""), f"{self._home()}:emit:{key}"]
        status = await self._emit(keys=keys, args=[fence.token if fence else "", _ms(ttl_s)])
        status = status.decode() if isinstance(status, bytes) else status
        if status == "refused":
            assert fence is not None
            raise FenceRefused(fence, f"emit claim {key}")
        return str(status)

    async def mark_emitted(self, key: str, *, ttl_s: float) -> None:
        """Record that an alert was handed on (a fact, never refused)."""
        await self.client.set(f"{self._home()}:emit:{key}", "sent", px=_ms(ttl_s))

    # --- the week's note -------------------------------------------------------------------
    def _note_key(self, week: date) -> str:
        return f"{self.prefix}:note:{week.isoformat()}"

    async def record_note_alert(self, week: date, key: str, alert_json: str, *, revision: int) -> bool:
        """Keep the alert under ``key`` of ``week`` unless a higher revision is kept (one script)."""
        done = await self._note_alert(
            keys=[f"{self._note_key(week)}:alerts"], args=[key, revision, f"{revision}{SEP}{alert_json}"]
        )
        return bool(int(done))

    async def note_alerts(self, week: date) -> list[str]:
        """Return the alerts kept for ``week``."""
        rows = await self.client.hvals(f"{self._note_key(week)}:alerts")
        return [_str(row).partition(SEP)[2] for row in rows]

    async def put_note(self, week: date, note_json: str) -> None:
        """Store the note of ``week`` and list the week."""
        await self.client.set(self._note_key(week), note_json)
        await self.client.zadd(f"{self.prefix}:notes", {week.isoformat(): week.toordinal()})

    async def get_note(self, week: date) -> str | None:
        """Return the stored note of ``week``."""
        raw = await self.client.get(self._note_key(week))
        return None if raw is None else _str(raw)

    async def note_weeks(self) -> list[date]:
        """Return the weeks with a stored note, oldest first."""
        return [date.fromisoformat(_str(w)) for w in await self.client.zrange(f"{self.prefix}:notes", 0, -1)]

    async def ping(self) -> float:
        """Return the round-trip time in seconds."""
        t0 = time.perf_counter()
        await self.client.ping()
        return time.perf_counter() - t0

    async def close(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()


def _str(value: str | bytes) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))
