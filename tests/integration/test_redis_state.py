"""The state contract of tests/unit/state/test_memory.py, run on MemoryState and on RedisState side by side.

RedisState uses the shared Redis (``redis_url``) with this test's ``key_prefix``;
its keys are deleted after each test.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tests.unit.state.test_memory import *  # noqa: F401,F403  (the scenario tests, collected here again)
from tests.unit.state.test_memory import QUOTES, TRADES, WEEK, State, folded, open_state, ts


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> str:  # noqa: F811  (overrides the memory-only fixture)
    return request.param


async def test_redis_keys_live_under_the_prefix(redis_url: str, key_prefix: str, request: pytest.FixtureRequest) -> None:
    import redis.asyncio as aioredis

    from signal_monitor.state.fold import fold
    from signal_monitor.streams.events import Quote

    state: State = await open_state("redis", request)
    try:
        batch, _ = fold(QUOTES, 3, [(7, Quote(ts=ts(2025, 6, 4, 20, 0), symbol="VIX", price=22.5, kind="close"))])
        assert (await state.apply(batch)).applied
        await state.put_points(ts(2025, 6, 4).date(), {"close:day|symbol=VIX": 22.5})
        await state.set_rule_state("r", "s", {"a": 1})
        assert await state.claim("k", ttl_s=30)
    finally:
        await state.close()
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        keys = sorted([k async for k in client.scan_iter(match=f"{key_prefix}:*", count=1000)])
        assert keys  # something was written
        assert all(k.startswith(f"{key_prefix}:") for k in keys)
        assert f"{key_prefix}:{{{QUOTES}:3}}:mark" in keys
        assert f"{key_prefix}:parts:{QUOTES}" in keys
        # ingest keys expire; the mark (offsets) does not
        ttl = await client.ttl(f"{key_prefix}:{{{QUOTES}:3}}:quote:2025-06-04")
        assert ttl > 0
        assert await client.ttl(f"{key_prefix}:{{{QUOTES}:3}}:mark") == -1
    finally:
        await client.aclose()


async def test_redis_state_persists_across_clients(redis_url: str, key_prefix: str, request: pytest.FixtureRequest) -> None:
    from signal_monitor.state.redis import RedisState
    from tests.unit.state.test_memory import T1, T2, WEEK

    first = RedisState.from_url(redis_url, prefix=key_prefix)
    try:
        assert (await first.apply(folded(TRADES, 0, [(0, T1), (1, T2)]))).applied
    finally:
        await first.close()
    second = RedisState.from_url(redis_url, prefix=key_prefix)
    try:
        res = await second.apply(folded(TRADES, 0, [(0, T1), (1, T2)]))
        assert (res.applied, res.stale, res.stored_offset) == (False, True, 1)
        assert (await second.flow_sums(WEEK))[""] == pytest.approx({"buy_long": 1000.0, "sell_short": 200.0, "n": 2.0})
        assert (await second.marks(TRADES))[0].offset == 1
    finally:
        await second.close()


# --- trade ids: one expiring set per partition and UTC event day ---------------------------------

DAY_S = 86400


async def _scan(client: Any, prefix: str) -> dict[str, int]:
    """Return every key under ``prefix:`` with its TTL (-1: none)."""
    return {k: await client.ttl(k) async for k in client.scan_iter(match=f"{prefix}:*", count=1000)}


async def test_trade_ids_live_in_one_expiring_set_per_partition_and_utc_day(redis_url: str, key_prefix: str) -> None:
    import redis.asyncio as aioredis

    from signal_monitor.state.redis import RedisState
    from tests.factories import trade

    state = RedisState.from_url(redis_url, prefix=key_prefix, dedup_ttl_s=14 * DAY_S)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    p0 = [trade("a", ts(2025, 6, 2, 23, 59, 59)), trade("b", ts(2025, 6, 3, 0, 0, 0)), trade("c", ts(2025, 6, 3, 14))]
    p1 = [trade("a", ts(2025, 6, 3, 14)), trade("live", now)]
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        assert (await state.apply(folded(TRADES, 0, list(enumerate(p0))))).applied
        assert (await state.apply(folded(TRADES, 1, list(enumerate(p1))))).applied  # another partition: its own sets
        tag0, tag1 = f"{key_prefix}:{{{TRADES}:0}}", f"{key_prefix}:{{{TRADES}:1}}"
        today = f"{tag1}:seen:{now.date().isoformat()}"
        buckets = {
            f"{tag0}:seen:2025-06-02": {"a"},
            f"{tag0}:seen:2025-06-03": {"b", "c"},
            f"{tag1}:seen:2025-06-03": {"a"},
            today: {"live"},
        }
        keys = await _scan(client, key_prefix)
        assert {k for k in keys if ":seen" in k} == set(buckets)
        for key, ids in buckets.items():
            assert await client.smembers(key) == ids
            assert keys[key] > 0, key
        # a past day lives dedup_ttl past its last write; today's, dedup_ttl past the day's end
        assert keys[f"{tag0}:seen:2025-06-02"] <= 14 * DAY_S + 1
        assert keys[today] > 14 * DAY_S
        # nothing persists but the partitions' marks and their list
        assert {k for k, ttl in keys.items() if ttl < 0} == {f"{tag0}:mark", f"{tag1}:mark", f"{key_prefix}:parts:{TRADES}"}
    finally:
        await client.aclose()
        await state.close()


async def test_the_same_trade_id_under_another_utc_day_is_not_recognised_by_redis(redis_url: str, key_prefix: str) -> None:
    """The documented limit of day buckets: a resend must carry its event time (MemoryState, stricter, refuses it)."""
    from signal_monitor.state.redis import RedisState
    from tests.factories import trade

    state = RedisState.from_url(redis_url, prefix=key_prefix)
    try:
        assert (await state.apply(folded(TRADES, 0, [(0, trade("x", ts(2025, 6, 3, 14)))]))).applied
        assert (await state.apply(folded(TRADES, 0, [(1, trade("x", ts(2025, 6, 4, 14)))]))).applied
        refused = await state.apply(folded(TRADES, 0, [(2, trade("x", ts(2025, 6, 4, 15)))]))
        assert refused.seen == ("x",)
    finally:
        await state.close()


async def test_a_replay_drops_the_buckets_its_event_time_leaves_dedup_ttl_behind(redis_url: str, key_prefix: str) -> None:
    import redis.asyncio as aioredis

    from signal_monitor.state.redis import RedisState
    from tests.factories import trade

    state = RedisState.from_url(redis_url, prefix=key_prefix, dedup_ttl_s=2 * DAY_S)
    start = ts(2025, 6, 2, 12)
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        for day in range(11):  # one batch a day, noon UTC, history long past
            at = start + timedelta(days=day)
            batch = folded(TRADES, 0, [(2 * day, trade(f"d{day}a", at)), (2 * day + 1, trade(f"d{day}b", at))])
            assert (await state.apply(batch)).applied
        keys = await _scan(client, key_prefix)
        # newest event: 2025-06-12 12:00; a day's set goes once its end is 2 days behind that
        days = sorted(k.rpartition(":")[2] for k in keys if ":seen:" in k)
        assert days == ["2025-06-10", "2025-06-11", "2025-06-12"]
        assert all(ttl > 0 for k, ttl in keys.items() if ":seen:" in k)
        # within what is kept, a resend is still refused
        res = await state.apply(folded(TRADES, 0, [(30, trade("d8b", start + timedelta(days=8)))]))
        assert res.seen == ("d8b",)
        # a batch never drops the set of one of its own days
        late = folded(TRADES, 0, [(30, trade("new", start + timedelta(days=9))), (31, trade("late", start + timedelta(days=8)))])
        late.watermark = (start + timedelta(days=10, hours=12)).timestamp()  # 2025-06-13 00:00: 06-10 is past
        assert (await state.apply(late)).applied
        kept = sorted(k.rpartition(":")[2] for k in (await _scan(client, key_prefix)) if ":seen:" in k)
        assert kept == ["2025-06-10", "2025-06-11", "2025-06-12"]
        assert await client.smembers(f"{key_prefix}:{{{TRADES}:0}}:seen:2025-06-10") == {"d8a", "d8b", "late"}
    finally:
        await client.aclose()
        await state.close()


async def test_the_zset_of_the_layout_before_day_buckets_is_consulted_until_it_goes(redis_url: str, key_prefix: str) -> None:
    import redis.asyncio as aioredis

    from signal_monitor.state.redis import RedisState
    from tests.factories import trade

    state = RedisState.from_url(redis_url, prefix=key_prefix, dedup_ttl_s=14 * DAY_S)
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    legacy = f"{key_prefix}:{{{TRADES}:0}}:seen"
    old = trade("before-upgrade", ts(2025, 6, 3, 14))
    try:
        # as the earlier layout left it: trade id -> event time, no expiry, one id far past the TTL
        await client.zadd(legacy, {old.trade_id: old.ts.timestamp(), "ancient": ts(2025, 1, 2).timestamp()})
        await client.hset(f"{key_prefix}:{{{TRADES}:0}}:mark", mapping={"offset": 9, "watermark": old.ts.timestamp()})
        pair = [(10, trade("after-upgrade", ts(2025, 6, 4, 14))), (11, old)]
        res = await state.apply(folded(TRADES, 0, pair))
        assert (res.applied, res.stale, res.seen) == (False, False, ("before-upgrade",))
        assert await client.ttl(legacy) == -1  # a refused batch writes nothing
        assert (await state.apply(folded(TRADES, 0, pair, skip_trades=frozenset(res.seen)))).applied
        assert (await state.flow_sums(WEEK))[""]["n"] == pytest.approx(1.0)
        # trimmed as before, and it now expires on its own
        assert await client.zrange(legacy, 0, -1) == ["before-upgrade"]
        assert 0 < await client.ttl(legacy) <= 14 * DAY_S
        # new ids went to the day buckets only
        assert await client.smembers(f"{key_prefix}:{{{TRADES}:0}}:seen:2025-06-04") == {"after-upgrade"}
    finally:
        await client.aclose()
        await state.close()


# --- a script that fails writes nothing ---------------------------------------------------------------


def _corruptions(tag: str) -> dict[str, tuple[Any, Any]]:
    """name -> (corrupt, fix): keys the apply script writes after the trade-id sets, made unusable, then repaired."""
    flow = f"{tag}:flow:{WEEK.isoformat()}"
    quote = f"{tag}:quote:2025-06-04"

    return {
        "flow key of another type": (lambda c: c.set(flow, "x"), lambda c: c.delete(flow)),
        "unparsable flow sum": (lambda c: c.hset(flow, "\x1fn", "abc"), lambda c: c.hdel(flow, "\x1fn")),
        "unparsable latest value": (lambda c: c.hset(quote, "VIX", "garbage"), lambda c: c.hdel(quote, "VIX")),
        "unparsable watermark": (
            lambda c: c.hset(f"{tag}:mark", mapping={"offset": -1, "watermark": "abc"}),
            lambda c: c.hset(f"{tag}:mark", "watermark", 0),
        ),
    }


@pytest.mark.parametrize("corruption", ["flow key of another type", "unparsable flow sum", "unparsable latest value", "unparsable watermark"])
async def test_an_apply_that_fails_half_way_writes_nothing_and_the_retry_lands_the_batch_whole(
    redis_url: str, key_prefix: str, corruption: str
) -> None:
    import redis.asyncio as aioredis
    from redis.exceptions import ResponseError

    from signal_monitor.state.redis import RedisState
    from signal_monitor.streams.events import Quote
    from tests.unit.state.test_memory import T1, T2

    state = RedisState.from_url(redis_url, prefix=key_prefix)
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    tag = f"{key_prefix}:{{{TRADES}:0}}"
    corrupt, fix = _corruptions(tag)[corruption]
    vix = Quote(ts=ts(2025, 6, 4, 20, 0), symbol="VIX", price=22.5, kind="close")
    batch = folded(TRADES, 0, [(0, T1), (1, T2), (2, vix)])
    try:
        await corrupt(client)
        listed = f"{key_prefix}:parts:{TRADES}"  # the partition is listed before the script runs, harmlessly
        before = await _scan(client, key_prefix)
        with pytest.raises(ResponseError):
            await state.apply(batch)
        after = await _scan(client, key_prefix)
        after.pop(listed, None)
        assert after == before  # not a trade id, not a sum, not the offset
        await fix(client)
        res = await state.apply(batch)
        assert (res.applied, res.seen) == (True, ())
        assert (await state.flow_sums(WEEK))[""] == pytest.approx({"buy_long": 1000.0, "sell_short": 200.0, "n": 2.0})
        assert (await client.hget(f"{tag}:quote:2025-06-04", "VIX") or "").endswith("\x1f1\x1f22.5")
        assert (await state.marks(TRADES))[0].offset == 2
    finally:
        await client.aclose()
        await state.close()
