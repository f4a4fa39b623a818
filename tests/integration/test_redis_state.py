"""The state contract of tests/unit/state/test_memory.py, run on MemoryState and on RedisState side by side.

RedisState uses the shared Redis (``redis_url``) with this test's ``key_prefix``;
its keys are deleted after each test.
"""

from __future__ import annotations

import pytest

from tests.unit.state.test_memory import *  # noqa: F401,F403  (the scenario tests, collected here again)
from tests.unit.state.test_memory import QUOTES, TRADES, State, folded, open_state, ts


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
