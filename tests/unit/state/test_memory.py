"""The state contract, run on MemoryState here and on both backends in tests/integration/test_redis_state.py.

The tests below take a ``state`` fixture built from the ``backend`` fixture; the
integration module imports them and overrides ``backend`` to run them on Redis too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from signal_monitor.state.base import LEASE_HOME, Batch, Fence, FenceRefused, State, fenced
from signal_monitor.state.fold import fold
from signal_monitor.state.memory import MemoryState
from signal_monitor.streams.events import Exposure, Observation, Quote
from tests.factories import trade, ts

UTC = timezone.utc
# full topic names, as the app applies them (``Settings.topic``); RedisState reads each kind from
# the partitions of ``<topic_prefix>.<kind>`` (default prefix "signals")
TRADES, QUOTES, EXPOSURES, OBSERVATIONS = (f"signals.{k}" for k in ("trades", "quotes", "exposures", "observations"))
WEEK = date(2025, 6, 6)
DAY = date(2025, 6, 4)


def exposure(fund: str, at: datetime, nav: float, long_mv: float, short_mv: float) -> Exposure:
    return Exposure(ts=at, fund_id=fund, fund_type="hedge_fund", strategy="equity_ls",
                    nav=nav, long_mv=long_mv, short_mv=short_mv)


T1 = trade("t1", ts(2025, 6, 3, 14, 0))  # buy_long 1000, hedge_fund
T2 = trade("t2", ts(2025, 6, 4, 14, 0), action="sell_short", quantity=4, price=50.0, notional=200.0)  # hedge_fund
T3 = trade("t3", ts(2025, 6, 5, 14, 0), fund_type="long_only", quantity=3, price=100.0, notional=300.0)
T4 = trade("t4", ts(2025, 6, 5, 15, 0), action="buy_to_cover", quantity=1, price=25.0, notional=25.0)


# --- backends ----------------------------------------------------------------------------


async def open_state(backend: str, request: pytest.FixtureRequest) -> State:
    if backend == "memory":
        return MemoryState()
    from signal_monitor.state.redis import RedisState

    url = request.getfixturevalue("redis_url")
    prefix = request.getfixturevalue("key_prefix")
    return RedisState.from_url(url, prefix=prefix)


@pytest.fixture(params=["memory"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def state(backend: str, request: pytest.FixtureRequest) -> AsyncIterator[State]:
    s = await open_state(backend, request)
    try:
        yield s
    finally:
        await s.close()


def folded(topic: str, partition: int, events: list[tuple[int, Any]], **kw: Any) -> Batch:
    batch, _ = fold(topic, partition, events, **kw)
    return batch


# --- exactly once --------------------------------------------------------------------------


async def test_reapplying_a_batch_is_stale_and_changes_nothing(state: State) -> None:
    batch = folded(TRADES, 0, [(0, T1), (1, T2), (2, T3)])
    first = await state.apply(batch)
    assert (first.applied, first.stale, first.stored_offset, first.seen) == (True, False, 2, ())
    again = await state.apply(batch)
    assert (again.applied, again.stale, again.stored_offset, again.seen) == (False, True, 2, ())
    sums = await state.flow_sums(WEEK)
    assert sums[""] == pytest.approx({"buy_long": 1300.0, "sell_short": 200.0, "n": 3.0})
    assert sums["fund_type=hedge_fund"] == pytest.approx({"buy_long": 1000.0, "sell_short": 200.0, "n": 2.0})
    assert sums["fund_type=long_only"] == pytest.approx({"buy_long": 300.0, "n": 1.0})
    # a batch that starts inside the applied range is stale too, even when it ends past it
    overlap = folded(TRADES, 0, [(2, T4), (3, T4)])
    res = await state.apply(overlap)
    assert (res.applied, res.stale, res.stored_offset) == (False, True, 2)
    assert (await state.flow_sums(WEEK))[""]["n"] == pytest.approx(3.0)
    assert (await state.marks(TRADES))[0].offset == 2


async def test_a_batch_that_does_not_follow_the_stored_offset_is_refused_as_a_gap(state: State) -> None:
    """The store came back with less than it acknowledged: the worker's next batch follows offset 4, the store is at 1."""
    assert (await state.apply(folded(TRADES, 0, [(0, T1), (1, T2)]))).applied
    after_lost = folded(TRADES, 0, [(5, T3)])
    after_lost.base_offset = 4  # the offset the worker's records follow: what it applied before
    res = await state.apply(after_lost)
    assert res.applied is False
    assert (res.gap, res.stale, res.stored_offset, res.seen) == (True, False, 1, ())
    assert (await state.marks(TRADES))[0].offset == 1
    assert (await state.flow_sums(WEEK))[""]["n"] == pytest.approx(2.0)
    # a batch that follows the stored offset lands, also when the offsets between do not exist (compaction)
    follows = folded(TRADES, 0, [(5, T3), (6, T4)])
    follows.base_offset = 1
    ok = await state.apply(follows)
    assert (ok.applied, ok.gap, ok.stored_offset) == (True, False, 6)
    assert (await state.flow_sums(WEEK))[""]["n"] == pytest.approx(4.0)
    # a writer ahead of the batch's base (another worker applied more) is stale, not a gap
    behind = folded(TRADES, 0, [(6, T4)])
    behind.base_offset = 5
    res = await state.apply(behind)
    assert (res.applied, res.gap, res.stale, res.stored_offset) == (False, False, True, 6)


async def test_a_batch_applied_after_a_close_started_lists_the_periods_it_reopens(state: State) -> None:
    """The reopen entry is written with the batch, under the partition's keys: no window between the two."""
    assert (await state.apply(folded(TRADES, 0, [(0, T1)]))).applied  # Tuesday, week 2025-06-06
    quote = Quote(ts=ts(2025, 6, 4, 20, 0), symbol="VIX", price=20.0, kind="close")
    assert (await state.apply(folded(QUOTES, 1, [(0, quote)]))).applied
    await state.mark_closing([TRADES, QUOTES], "2025-06-04")  # the close of Wednesday started
    assert (await state.marks(QUOTES))[1].closing == "2025-06-04"
    res = await state.apply(folded(TRADES, 0, [(1, T2)]))
    assert (res.applied, res.reopened) == (True, ())  # the week closes on Friday: still open
    res = await state.apply(folded(QUOTES, 1, [(1, quote), (2, Quote(ts=ts(2025, 6, 5, 20, 0), symbol="VIX", price=21.0, kind="close"))]))
    assert res.reopened == ("day:2025-06-04",)  # Thursday's close has not started
    await state.mark_closing([TRADES, QUOTES], "2025-06-06")
    await state.mark_closing([TRADES, QUOTES], "2025-06-05")  # never moves back
    assert (await state.marks(TRADES))[0].closing == "2025-06-06"
    res = await state.apply(folded(TRADES, 0, [(5, T3)]))
    assert res.reopened == ("week:2025-06-06",)
    assert await state.reopened(TRADES) == {0: {"week:2025-06-06": 5}}
    assert await state.reopened(QUOTES) == {1: {"day:2025-06-04": 2}}
    # dropped once recomputed up to its offset; a newer entry stays
    res = await state.apply(folded(TRADES, 0, [(6, T4)]))
    await state.drop_reopened(TRADES, 0, {"week:2025-06-06": 5})
    assert await state.reopened(TRADES) == {0: {"week:2025-06-06": 6}}
    await state.drop_reopened(TRADES, 0, {"week:2025-06-06": 6})
    assert await state.reopened(TRADES) == {}


async def test_a_good_friday_week_is_reopened_once_its_thursday_close_started(state: State) -> None:
    """Good Friday 2025-04-18 is a holiday: the week of 2025-04-18 closes with Thursday, so late data after it reopens it."""
    assert (await state.apply(folded(TRADES, 0, [(0, trade("gf0", ts(2025, 4, 21, 14, 0)))]))).applied
    evening = Quote(ts=ts(2025, 4, 17, 22, 0), symbol="SPX", price=1.0)
    assert (await state.apply(folded(QUOTES, 1, [(0, evening)]))).applied
    await state.mark_closing([TRADES, QUOTES], "2025-04-17")
    res = await state.apply(folded(TRADES, 0, [(1, trade("gf1", ts(2025, 4, 16, 15, 0)))]))
    assert res.reopened == ("week:2025-04-18",)
    # a quote on the holiday itself is the next week's data: it reopens its day only
    holiday = Quote(ts=ts(2025, 4, 18, 15, 0), symbol="VIX", price=30.0, kind="close")
    await state.mark_closing([TRADES, QUOTES], "2025-04-18")
    res = await state.apply(folded(QUOTES, 1, [(1, holiday)]))
    assert res.reopened == ("day:2025-04-18",)

async def test_seen_trade_is_refused_then_refold_without_it_applies(state: State) -> None:
    assert (await state.apply(folded(TRADES, 0, [(0, T1), (1, T2)]))).applied
    again = folded(TRADES, 0, [(2, T2), (3, T4)])
    res = await state.apply(again)
    assert res.applied is False
    assert res.stale is False
    assert res.seen == ("t2",)
    assert res.stored_offset == 1
    # nothing of the refused batch was written
    assert (await state.marks(TRADES))[0].offset == 1
    assert (await state.flow_sums(WEEK))[""] == pytest.approx({"buy_long": 1000.0, "sell_short": 200.0, "n": 2.0})
    # fold again without the seen trade, naming it as known
    refold = folded(TRADES, 0, [(2, T2), (3, T4)], skip_trades=frozenset(res.seen))
    ok = await state.apply(refold)
    assert (ok.applied, ok.stored_offset) == (True, 3)
    assert (await state.flow_sums(WEEK))[""] == pytest.approx(
        {"buy_long": 1000.0, "sell_short": 200.0, "buy_to_cover": 25.0, "n": 3.0}
    )
    assert (await state.marks(TRADES))[0].offset == 3


async def reopen(state: State, backend: str, request: pytest.FixtureRequest) -> State:
    """Return the store as a restarted worker finds it: a new client of the same Redis keys (MemoryState: itself)."""
    return state if backend == "memory" else await open_state(backend, request)


def ingestor(state: State, worker: str) -> Any:
    """Return an Ingestor of the trades topic over ``state``, as one life of a worker runs it."""
    from signal_monitor.agents.ingest import Ingestor

    async def no_letters(letters: Any) -> None:
        raise AssertionError(f"unexpected dead letters: {letters}")

    return Ingestor(state, topic=TRADES, kind="trades", dead_letters=no_letters, lateness_s=7 * 86400,
                    max_message_bytes=64 * 1024, worker_id=worker)


def record(offset: int, *trades: Any) -> Any:
    """Return a record of partition 0 holding ``trades`` (an envelope when more than one)."""
    from signal_monitor.agents.ingest import Record

    items = [t.model_dump_json() for t in trades]
    return Record(0, offset, (items[0] if len(items) == 1 else "[" + ",".join(items) + "]").encode())


async def test_a_resent_trade_is_applied_once_in_a_batch_a_later_batch_another_day_and_after_a_restart(
    state: State, backend: str, request: pytest.FixtureRequest
) -> None:
    ta, tb = trade("ta", ts(2025, 6, 2, 15, 0)), trade("tb", ts(2025, 6, 2, 19, 0))
    tc, td = trade("tc", ts(2025, 6, 3, 15, 0)), trade("td", ts(2025, 6, 5, 15, 0))
    te = trade("te", ts(2025, 6, 5, 16, 0))
    first = ingestor(state, "w1")
    await first.handle([record(0, ta, tb), record(1, ta)])  # ta again in the same batch
    await first.handle([record(2, tc), record(3, tb)])  # tb again in a later batch
    await first.handle([record(4, td, ta)])  # ta again, next to a trade two days later
    assert (first.stats.events[TRADES], first.stats.duplicates[TRADES]) == (4, 3)
    again = await reopen(state, backend, request)
    try:
        second = ingestor(again, "w2")  # a restarted worker, with nothing in memory
        await second.handle([record(5, tc, te), record(6, td)])
        assert (second.stats.events[TRADES], second.stats.duplicates[TRADES]) == (1, 2)
        assert (await again.flow_sums(WEEK))[""] == pytest.approx({"buy_long": 5000.0, "n": 5.0})
        assert (await again.marks(TRADES))[0].offset == 6
    finally:
        if again is not state:
            await again.close()


async def test_distinct_trade_ids_around_midnight_do_not_collide(state: State) -> None:
    """Ids on both sides of UTC and of US/Eastern midnight, over several days: none is taken for another."""
    edges = [ts(2025, 6, 2, 23, 59, 59), ts(2025, 6, 3, 0, 0, 0), ts(2025, 6, 3, 3, 59, 59), ts(2025, 6, 3, 4, 0, 0)]
    days = [ts(2025, 6, 2, 14) + timedelta(days=i) for i in range(4)]
    trades = [trade(f"id-{i}", at) for i, at in enumerate(edges + days)]
    assert (await state.apply(folded(TRADES, 0, list(enumerate(trades[:5]))))).applied
    assert (await state.apply(folded(TRADES, 0, [(5 + i, t) for i, t in enumerate(trades[5:])]))).applied
    assert (await state.flow_sums(WEEK))[""]["n"] == pytest.approx(len(trades))
    # and each one is known afterwards, wherever its day falls
    res = await state.apply(folded(TRADES, 0, [(100 + i, t) for i, t in enumerate(reversed(trades))]))
    assert (res.applied, res.stale) == (False, False)
    assert sorted(res.seen) == sorted(t.trade_id for t in trades)


async def test_marks_hold_offsets_and_watermarks(state: State) -> None:
    assert await state.marks(TRADES) == {}
    b0 = folded(TRADES, 0, [(4, T2), (5, T1)])
    b0.worker = "w-a"
    await state.apply(b0)
    b1 = folded(TRADES, 1, [(0, T3)])
    b1.worker = "w-b"
    await state.apply(b1)
    # an older event applied later does not move the watermark back
    await state.apply(folded(TRADES, 0, [(6, trade("t9", ts(2025, 6, 2, 9, 0)))]))
    marks = await state.marks(TRADES)
    assert set(marks) == {0, 1}
    assert marks[0].offset == 6
    assert marks[0].watermark == pytest.approx(T2.ts.timestamp())
    assert marks[0].updated > 0
    assert marks[1].offset == 0
    assert marks[1].watermark == pytest.approx(T3.ts.timestamp())
    assert marks[1].worker == "w-b"
    assert await state.marks(QUOTES) == {}
    # every topic's marks in one read (the closer's watermark), as each topic's own read finds them
    await state.register(QUOTES, 3, highwater=9)
    every = await state.marks_of([TRADES, QUOTES, "no-such-topic"])
    assert every == {(TRADES, 0): marks[0], (TRADES, 1): marks[1], (QUOTES, 3): (await state.marks(QUOTES))[3]}
    assert every[(QUOTES, 3)].highwater == 9 and every[(QUOTES, 3)].offset == -1
    assert await state.marks_of(["no-such-topic"]) == {}


# --- latest wins across batches -----------------------------------------------------------------


async def test_exposures_latest_wins_across_batches(state: State) -> None:
    await state.apply(folded(EXPOSURES, 0, [(0, exposure("F1", ts(2025, 6, 4, 22, 0), 100.0, 150.0, 50.0)),
                                              (1, exposure("F2", ts(2025, 6, 4, 22, 0), 200.0, 100.0, 0.0))]))
    # an older snapshot of F1, applied later (same partition, then another partition)
    await state.apply(folded(EXPOSURES, 0, [(2, exposure("F1", ts(2025, 6, 4, 21, 0), 999.0, 1.0, 1.0))]))
    await state.apply(folded(EXPOSURES, 1, [(0, exposure("F1", ts(2025, 6, 4, 20, 0), 888.0, 1.0, 1.0))]))
    snaps = {s.nav: s for s in await state.exposure_snapshots(DAY)}
    assert sorted(snaps) == [100.0, 200.0]
    assert (snaps[100.0].long_mv, snaps[100.0].short_mv) == (150.0, 50.0)
    # a newer one replaces it
    await state.apply(folded(EXPOSURES, 1, [(1, exposure("F1", ts(2025, 6, 4, 23, 0), 120.0, 130.0, 40.0))]))
    navs = sorted(s.nav for s in await state.exposure_snapshots(DAY))
    assert navs == [120.0, 200.0]
    assert await state.exposure_snapshots(date(2025, 6, 5)) == []


async def test_quotes_close_wins_and_latest_trade_wins(state: State) -> None:
    close = Quote(ts=ts(2025, 6, 4, 20, 0), symbol="VIX", price=22.5, kind="close")
    spx = Quote(ts=ts(2025, 6, 4, 15, 0), symbol="SPX", price=5010.0)
    await state.apply(folded(QUOTES, 0, [(0, close), (1, spx)]))
    assert await state.quotes(DAY) == {"VIX": (22.5, True), "SPX": (5010.0, False)}
    # a later trade quote does not replace the close; an older trade quote does not replace a newer one
    later_trade = Quote(ts=ts(2025, 6, 4, 21, 0), symbol="VIX", price=23.0)
    spx_older = Quote(ts=ts(2025, 6, 4, 14, 0), symbol="SPX", price=4990.0)
    await state.apply(folded(QUOTES, 0, [(2, later_trade), (3, spx_older)]))
    await state.apply(folded(QUOTES, 1, [(0, later_trade), (1, spx_older)]))
    assert await state.quotes(DAY) == {"VIX": (22.5, True), "SPX": (5010.0, False)}
    # a newer trade quote replaces; a close replaces a trade quote even when older
    spx_newer = Quote(ts=ts(2025, 6, 4, 16, 0), symbol="SPX", price=5020.0)
    await state.apply(folded(QUOTES, 1, [(2, spx_newer)]))
    assert await state.quotes(DAY) == {"VIX": (22.5, True), "SPX": (5020.0, False)}
    spx_close = Quote(ts=ts(2025, 6, 4, 15, 30), symbol="SPX", price=5015.0, kind="close")
    await state.apply(folded(QUOTES, 0, [(4, spx_close)]))
    assert await state.quotes(DAY) == {"VIX": (22.5, True), "SPX": (5015.0, True)}
    assert await state.quotes(date(2025, 6, 5)) == {}


async def test_observations_latest_wins_across_batches(state: State) -> None:
    await state.apply(folded(OBSERVATIONS, 0, [(0, Observation(ts=ts(2025, 6, 4, 18, 0), series="cftc", value=2.0))]))
    await state.apply(folded(OBSERVATIONS, 0, [(1, Observation(ts=ts(2025, 6, 4, 12, 0), series="cftc", value=1.0))]))
    await state.apply(folded(OBSERVATIONS, 1, [(0, Observation(ts=ts(2025, 6, 4, 13, 0), series="cftc", value=3.0)),
                                                 (1, Observation(ts=ts(2025, 6, 4, 13, 0), series="aaii", value=-0.25))]))
    assert await state.observations(DAY) == {"cftc": 2.0, "aaii": -0.25}
    await state.apply(folded(OBSERVATIONS, 1, [(2, Observation(ts=ts(2025, 6, 4, 19, 0), series="cftc", value=4.5))]))
    assert await state.observations(DAY) == {"cftc": 4.5, "aaii": -0.25}


async def test_an_observation_series_keeps_the_unit_its_events_give_once(state: State) -> None:
    events = [(0, Observation(ts=ts(2025, 6, 4, 12, 0), series="cftc", value=1.0, unit="contracts")),
              (1, Observation(ts=ts(2025, 6, 4, 13, 0), series="aaii", value=-0.25)),
              (2, Observation(ts=ts(2025, 6, 5, 12, 0), series="cftc", value=2.0, unit="contracts"))]
    batch = folded(OBSERVATIONS, 0, events)
    assert batch.units == {"cftc": "contracts"}  # once per series, whatever the number of points
    await state.apply(batch)
    assert await state.series_units(["cftc", "aaii", "nope"]) == {"cftc": "contracts"}
    # a refused (stale) batch records nothing; a later applied one replaces the unit; an empty one is ignored
    stale = Observation(ts=ts(2025, 6, 5, 13, 0), series="aaii", value=0.1, unit="fraction")
    assert not (await state.apply(folded(OBSERVATIONS, 0, [(1, stale)]))).applied
    assert await state.series_units(["aaii"]) == {}
    await state.apply(folded(OBSERVATIONS, 0, [(3, Observation(ts=ts(2025, 6, 5, 14, 0), series="cftc", value=3.0,
                                                               unit="count"))]))
    await state.set_series_units({"aaii": "fraction", "cftc": ""})
    assert await state.series_units(["aaii", "cftc"]) == {"aaii": "fraction", "cftc": "count"}
    assert await state.series_units([]) == {}


async def test_flow_sums_add_up_across_partitions(state: State) -> None:
    await state.apply(folded(TRADES, 0, [(0, T1)]))
    await state.apply(folded(TRADES, 1, [(0, T2)]))
    await state.apply(folded(TRADES, 2, [(0, T3), (1, T4)]))
    sums = await state.flow_sums(WEEK)
    assert sums[""] == pytest.approx({"buy_long": 1300.0, "sell_short": 200.0, "buy_to_cover": 25.0, "n": 4.0})
    assert sums["fund_type=hedge_fund"] == pytest.approx(
        {"buy_long": 1000.0, "sell_short": 200.0, "buy_to_cover": 25.0, "n": 3.0}
    )
    assert await state.flow_sums(date(2025, 6, 13)) == {}


# --- series --------------------------------------------------------------------------------------


async def test_put_points_and_put_series_upsert(state: State) -> None:
    d0, d1, d2 = date(2025, 5, 30), date(2025, 6, 6), date(2025, 6, 13)
    await state.put_points(d1, {"a:week": 1.0, "b:week": 2.0})
    await state.put_points(d1, {"a:week": 3.0})
    assert await state.history("a:week") == [(d1, 3.0)]
    assert await state.history("b:week") == [(d1, 2.0)]
    await state.put_series("a:week", [(d2, 5.0), (d0, 0.5), (d1, 4.0)])
    assert await state.history("a:week") == [(d0, 0.5), (d1, 4.0), (d2, 5.0)]
    await state.put_series("a:week", [(d2, 5.0), (d0, 0.5), (d1, 4.0)])  # idempotent
    assert await state.history("a:week") == [(d0, 0.5), (d1, 4.0), (d2, 5.0)]
    await state.put_points(d0, {"a:week": -1.25})
    assert await state.history("a:week") == [(d0, -1.25), (d1, 4.0), (d2, 5.0)]
    assert await state.history("missing:week") == []


async def test_history_bounds_are_inclusive(state: State) -> None:
    days = [date(2025, 6, d) for d in (2, 3, 4, 5, 6)]
    await state.put_series("close:day|symbol=VIX", [(d, float(d.day)) for d in days])
    sid = "close:day|symbol=VIX"
    assert await state.history(sid, since=date(2025, 6, 3), until=date(2025, 6, 5)) == [
        (date(2025, 6, 3), 3.0), (date(2025, 6, 4), 4.0), (date(2025, 6, 5), 5.0)
    ]
    assert await state.history(sid, since=date(2025, 6, 5)) == [(date(2025, 6, 5), 5.0), (date(2025, 6, 6), 6.0)]
    assert await state.history(sid, until=date(2025, 6, 2)) == [(date(2025, 6, 2), 2.0)]
    assert await state.history(sid, since=date(2025, 6, 7)) == []
    assert await state.history(sid, until=date(2025, 6, 1)) == []
    assert await state.history(sid, since=date(2025, 6, 4), until=date(2025, 6, 4)) == [(date(2025, 6, 4), 4.0)]


async def test_series_ids_prefix_filter(state: State) -> None:
    d = date(2025, 6, 6)
    await state.put_points(d, {"close:day|symbol=VIX": 1.0, "close:day|symbol=SPX": 2.0, "net_buying:week": 3.0})
    await state.put_series("close:week|symbol=VIX", [(d, 4.0)])
    assert await state.series_ids("close:day") == ["close:day|symbol=SPX", "close:day|symbol=VIX"]
    assert await state.series_ids("close:") == [
        "close:day|symbol=SPX", "close:day|symbol=VIX", "close:week|symbol=VIX"
    ]
    assert await state.series_ids("") == [
        "close:day|symbol=SPX", "close:day|symbol=VIX", "close:week|symbol=VIX", "net_buying:week"
    ]
    assert await state.series_ids("zzz") == []


async def test_put_series_with_no_points_lists_no_series(
    state: State, backend: str, request: pytest.FixtureRequest
) -> None:
    await state.put_series("obs:week|series=empty", [])
    assert await state.series_ids("obs:") == []
    assert await state.history("obs:week|series=empty") == []


async def test_put_series_with_a_repeated_period_keeps_the_last_point(state: State) -> None:
    d = date(2025, 6, 6)
    await state.put_series("close:week|symbol=VIX", [(d, 1.0), (d, 2.0)])
    assert await state.history("close:week|symbol=VIX") == [(d, 2.0)]


async def test_put_series_of_many_points(state: State) -> None:
    start = date(2015, 1, 1).toordinal()
    points = [(date.fromordinal(start + i), float(i)) for i in range(2500)]
    await state.put_series("obs:day|series=long", points)
    # again, with every value changed and the first period repeated at the end (a later chunk)
    await state.put_series("obs:day|series=long", [(d, v + 0.5) for d, v in points] + [(points[0][0], -1.0)])
    got = await state.history("obs:day|series=long")
    assert len(got) == 2500
    assert got[0] == (points[0][0], -1.0)
    assert got[1] == (points[1][0], 1.5)
    assert got[-1] == (points[-1][0], 2499.5)


# --- rules ------------------------------------------------------------------------------------------


async def test_rule_state_round_trip(state: State) -> None:
    assert await state.get_rule_state("r1", "sector=Energy") == {}
    value = {"armed": True, "streak": 3, "last": "2025-06-06", "values": [1.5, -2.0], "nested": {"a": None}}
    await state.set_rule_state("r1", "sector=Energy", value)
    assert await state.get_rule_state("r1", "sector=Energy") == value
    await state.set_rule_state("r1", "sector=Energy", {"armed": False})
    assert await state.get_rule_state("r1", "sector=Energy") == {"armed": False}
    await state.set_rule_state("r1", "", {"x": 1})
    await state.set_rule_state("r2", "sector=Energy", {"y": 2})
    assert await state.get_rule_state("r1", "sector=Energy") == {"armed": False}
    assert await state.get_rule_state("r1", "") == {"x": 1}
    assert await state.get_rule_state("r2", "sector=Energy") == {"y": 2}
    # the returned dict is a copy: changing it does not change the store
    got = await state.get_rule_state("r1", "")
    got["x"] = 99
    assert await state.get_rule_state("r1", "") == {"x": 1}


async def test_claim_once_then_refused_until_it_expires(state: State) -> None:
    assert await state.claim("close:day:2025-06-06", ttl_s=60) is True
    assert await state.claim("close:day:2025-06-06", ttl_s=60) is False
    assert await state.claim("close:week:2025-06-06", ttl_s=60) is True
    assert await state.claim("short", ttl_s=0.05) is True
    assert await state.claim("short", ttl_s=0.05) is False
    await asyncio.sleep(0.12)
    assert await state.claim("short", ttl_s=60) is True
    assert await state.claim("short", ttl_s=60) is False


# --- leases and fencing ---------------------------------------------------

LEASE_TTL = 0.15


async def run_out() -> None:
    await asyncio.sleep(LEASE_TTL * 2)


async def test_a_lease_is_held_once_renewed_by_its_holder_and_each_claim_gets_a_higher_token(state: State) -> None:
    first = await state.lease("close:2025-06-04", ttl_s=LEASE_TTL)
    assert first is not None
    assert await state.lease("close:2025-06-04", ttl_s=LEASE_TTL) is None
    assert await state.renew("close:2025-06-04", first, ttl_s=LEASE_TTL) is True
    assert await state.renew("close:2025-06-04", first + 1, ttl_s=LEASE_TTL) is False  # not the holder's token
    await run_out()
    assert await state.renew("close:2025-06-04", first, ttl_s=LEASE_TTL) is False  # ran out: lost
    second = await state.lease("close:2025-06-04", ttl_s=60)
    other = await state.lease("recompute:week:2025-06-06:x", ttl_s=60)
    assert second is not None and other is not None
    assert first < second < other  # one sequence over every lease


async def test_writes_under_a_lease_taken_over_are_refused_and_change_nothing(state: State) -> None:
    name = "close:2025-06-04"
    old = Fence(name, await state.lease(name, ttl_s=LEASE_TTL) or 0)
    with fenced(old):
        await state.put_points(DAY, {"close:day|symbol=VIX": 1.0})
        await state.set_rule_state(LEASE_HOME, "progress", {"day": "2025-06-03"})
        await state.set_rule_state("r", "s", {"by": "old"})
        assert await state.claim_emit("r|x|2025-06-04", ttl_s=60) == "new"
    await run_out()  # the holder stalls (a paused process) past its lease: another worker takes it over
    new = Fence(name, await state.lease(name, ttl_s=60) or 0)
    assert new.token > old.token
    with fenced(new):
        await state.put_points(DAY, {"close:day|symbol=VIX": 2.0})
        await state.set_rule_state(LEASE_HOME, "progress", {"day": "2025-06-06"})
        await state.set_rule_state("r", "s", {"by": "new"})
        assert await state.claim_emit("r|x|2025-06-04", ttl_s=60) == "again"  # the old holder's, not recorded sent
    with fenced(old):
        with pytest.raises(FenceRefused):
            await state.set_rule_state(LEASE_HOME, "progress", {"day": "2025-06-04"})
        with pytest.raises(FenceRefused):
            await state.put_points(DAY, {"close:day|symbol=VIX": 3.0})
        with pytest.raises(FenceRefused):
            await state.set_rule_state("r", "s", {"by": "old again"})
        with pytest.raises(FenceRefused):
            await state.claim_emit("r|y|2025-06-04", ttl_s=60)
    assert await state.get_rule_state(LEASE_HOME, "progress") == {"day": "2025-06-06"}  # never back
    assert await state.history("close:day|symbol=VIX") == [(DAY, 2.0)]
    assert await state.get_rule_state("r", "s") == {"by": "new"}


async def test_the_closers_state_and_emit_claims_refuse_a_lost_lease_before_anyone_took_it(state: State) -> None:
    name = "close:2025-06-05"
    old = Fence(name, await state.lease(name, ttl_s=LEASE_TTL) or 0)
    await run_out()
    with fenced(old):
        with pytest.raises(FenceRefused):
            await state.set_rule_state(LEASE_HOME, "closing:2025-06-05", {"done": []})
        with pytest.raises(FenceRefused):
            await state.claim_emit("r|x|2025-06-05", ttl_s=60)
    assert await state.get_rule_state(LEASE_HOME, "closing:2025-06-05") == {}


async def test_concurrent_leases_do_not_refuse_each_others_writes(state: State) -> None:
    a = Fence("close:2025-06-06", await state.lease("close:2025-06-06", ttl_s=60) or 0)
    b = Fence("recompute:week:2025-05-30:d", await state.lease("recompute:week:2025-05-30:d", ttl_s=60) or 0)
    with fenced(b):
        await state.set_rule_state("r", "week", {"by": "b"})
        await state.put_points(WEEK, {"net_buying:week|fund_type=hedge_fund": 1.0})
    with fenced(a):  # a lower token, of another lease: not a stale holder
        await state.set_rule_state("r", "week", {"by": "a"})
        await state.put_points(WEEK, {"net_buying:week|fund_type=hedge_fund": 2.0})
    assert await state.get_rule_state("r", "week") == {"by": "a"}


async def test_an_emit_claim_tells_a_later_holder_whether_the_alert_was_handed_on(state: State) -> None:
    name = "close:2025-06-06"
    first = Fence(name, await state.lease(name, ttl_s=LEASE_TTL) or 0)
    with fenced(first):
        assert await state.claim_emit("a", ttl_s=60) == "new"
        assert await state.claim_emit("b", ttl_s=60) == "new"
        await state.mark_emitted("a", ttl_s=60)
        assert await state.claim_emit("a", ttl_s=60) == "sent"
    await run_out()
    with fenced(Fence(name, await state.lease(name, ttl_s=60) or 0)):
        assert await state.claim_emit("a", ttl_s=60) == "sent"  # on the topic: not again
        assert await state.claim_emit("b", ttl_s=60) == "again"  # claimed, perhaps produced, not recorded
    # recording a hand-on is a fact: never refused, even from the holder that lost the lease
    with fenced(first):
        await state.mark_emitted("b", ttl_s=60)


async def test_the_week_keeps_the_highest_revision_of_each_alert_and_its_note(state: State) -> None:
    from datetime import date

    week, other = date(2025, 6, 6), date(2025, 5, 30)
    key = "vix_below_17|symbol=VIX|2025-06-06"
    assert await state.record_note_alert(week, key, '{"revision": 2}', revision=2)
    assert not await state.record_note_alert(week, key, '{"revision": 1}', revision=1)  # an older one arrives late
    assert await state.record_note_alert(week, key, '{"revision": 2, "again": true}', revision=2)  # handed on again
    assert await state.record_note_alert(week, "hf|fund_type=hedge_fund|2025-06-06", '{"x": "a\x1fb"}', revision=1)
    assert sorted(await state.note_alerts(week)) == ['{"revision": 2, "again": true}', '{"x": "a\x1fb"}']
    assert await state.note_alerts(other) == []
    assert await state.get_note(week) is None and await state.note_weeks() == []
    await state.put_note(week, '{"week": "2025-06-06", "revision": 1}')
    await state.put_note(other, '{"week": "2025-05-30"}')
    await state.put_note(week, '{"week": "2025-06-06", "revision": 2}')
    assert await state.get_note(week) == '{"week": "2025-06-06", "revision": 2}'
    assert await state.note_weeks() == [other, week]
