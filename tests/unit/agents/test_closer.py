"""The PeriodCloser over MemoryState: watermark, closing days and weeks, series points, reopening."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from signal_monitor.agents.closer import AT_HEAD_LAG, CLOSER_STATE, EMIT_TTL_S, PeriodCloser
from signal_monitor.rules.alert import dedup_key
from signal_monitor.rules.engine import RuleEngine
from signal_monitor.rules.model import parse_rules
from signal_monitor.state.fold import fold
from signal_monitor.state.memory import MemoryState
from signal_monitor.state.redis import RedisState
from signal_monitor.streams.events import Exposure, Quote, Trade

UTC = timezone.utc
MON, TUE, WED, THU, FRI = (date(2025, 6, d) for d in (2, 3, 4, 5, 6))
PREV_FRI = date(2025, 5, 30)
NEXT_MON, NEXT_FRI = date(2025, 6, 9), date(2025, 6, 13)
GRACE_S = 300.0
IDLE_S = 120.0


def ts(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def trade(trade_id: str, at: datetime, action: str, notional: float, **over: Any) -> Trade:
    fields: dict[str, Any] = {
        "ts": at, "trade_id": trade_id, "fund_id": "F1", "fund_type": "hedge_fund", "strategy": "equity_ls",
        "symbol": "XLI", "instrument_type": "etf", "sector": "Industrials", "action": action,
        "quantity": notional / 100.0, "price": 100.0, "notional": notional,
    }
    fields.update(over)
    return Trade(**fields)


def close_quote(day: date, price: float, symbol: str = "VIX") -> Quote:
    # 16:00 EDT = 20:00Z in June
    return Quote(ts=ts(day.year, day.month, day.day, 20, 0), symbol=symbol, price=price, kind="close")


def snapshot(fund: str, at: datetime, nav: float, long_mv: float, short_mv: float) -> Exposure:
    return Exposure(ts=at, fund_id=fund, fund_type="hedge_fund", strategy="equity_ls",
                    nav=nav, long_mv=long_mv, short_mv=short_mv)


class Feed:
    """Folds events into batches, applies them and tells the closer, as the ingest agent does."""

    def __init__(self, state: MemoryState, closer: PeriodCloser) -> None:
        self.state = state
        self.closer = closer
        self.offsets: dict[tuple[str, int], int] = defaultdict(int)

    async def send(self, topic: str, events: Sequence[Any], partition: int = 0, *, unread: int | None = None) -> None:
        """``unread``: how many messages the consumer knows are in the partition past this batch."""
        start = self.offsets[(topic, partition)]
        batch, _ = fold(topic, partition, [(start + i, e) for i, e in enumerate(events)])
        if unread is not None:
            batch.highwater = batch.last_offset + 1 + unread
        result = await self.state.apply(batch)
        assert result.applied
        batch.reopened = result.reopened  # as the ingestor hands it on
        self.offsets[(topic, partition)] = start + len(events)
        await self.closer.note(batch)


class ListSink:
    def __init__(self) -> None:
        self.items: list[Any] = []

    async def __call__(self, items: Sequence[Any]) -> None:
        self.items.extend(items)


@pytest.fixture
def state() -> MemoryState:
    return MemoryState()


@pytest.fixture
def sink() -> ListSink:
    return ListSink()


@pytest.fixture
def closer(state: MemoryState, sink: ListSink) -> PeriodCloser:
    return PeriodCloser(state, topics=["trades", "quotes", "exposures", "observations"], evaluator=None,
                        emit=sink, grace_s=GRACE_S, idle_s=IDLE_S)


async def feed_week(feed: Feed) -> None:
    # quotes first: the first batch starts the closer's calendar at its earliest day (Monday)
    await feed.send("quotes", [close_quote(MON, 18.0), close_quote(TUE, 19.0), close_quote(WED, 20.0),
                               Quote(ts=ts(2025, 6, 4, 15, 0), symbol="SPX", price=5000.0),
                               close_quote(THU, 21.0), close_quote(FRI, 22.5),
                               Quote(ts=ts(2025, 6, 6, 21, 0), symbol="VIX", price=23.0)])  # after the close
    await feed.send("trades", [
        trade("h1", ts(2025, 6, 3, 14, 0), "buy_long", 1000.0),
        trade("h2", ts(2025, 6, 4, 15, 0), "sell_short", 400.0),
        trade("l1", ts(2025, 6, 4, 15, 30), "buy_long", 5000.0, fund_id="F9", fund_type="long_only", strategy="value"),
        trade("h3", ts(2025, 6, 5, 15, 0), "buy_to_cover", 150.0),
        trade("h4", ts(2025, 6, 6, 19, 0), "sell_long", 200.0),  # Fri 15:00 EDT
        trade("h5", ts(2025, 6, 6, 20, 30), "buy_long", 999.0, quantity=9, price=111.0),  # Fri 16:30 EDT: next week
    ])
    await feed.send("exposures", [
        snapshot("F1", ts(2025, 6, 5, 22, 0), 100.0, 100.0, 20.0),  # Thursday
        snapshot("F1", ts(2025, 6, 6, 22, 0), 100.0, 180.0, 60.0),  # Friday
        snapshot("F2", ts(2025, 6, 6, 22, 0), 200.0, 300.0, 100.0),  # Friday
    ])
    # an event of the next Monday
    await feed.send("quotes", [Quote(ts=ts(2025, 6, 9, 14, 0), symbol="VIX", price=24.0)])


async def test_advance_closes_the_days_and_the_week(state: MemoryState, closer: PeriodCloser, sink: ListSink) -> None:
    await state.put_series("close:week|symbol=VIX", [(PREV_FRI, 20.0)])
    feed = Feed(state, closer)
    await feed_week(feed)
    assert await state.get_rule_state(CLOSER_STATE, "progress") == {"day": "2025-06-01"}
    # watermark: min(trades Fri 20:30Z, quotes Mon 14:00Z, exposures Fri 22:00Z)
    assert await closer.watermark() == ts(2025, 6, 6, 20, 30).timestamp()

    assert await closer.advance() == 6  # five days and one week
    assert (closer.closed_days, closer.closed_weeks) == (5, 1)
    assert await state.get_rule_state(CLOSER_STATE, "progress") == {"day": "2025-06-06"}

    assert await state.history("close:day|symbol=VIX") == [
        (MON, 18.0), (TUE, 19.0), (WED, 20.0), (THU, 21.0), (FRI, 22.5)
    ]
    assert await state.history("close:day|symbol=SPX") == [(WED, 5000.0)]
    assert await state.history("close:week|symbol=VIX") == [(PREV_FRI, 20.0), (FRI, 22.5)]
    assert await state.history("close:week|symbol=SPX") == [(FRI, 5000.0)]
    assert await state.history("return:week|symbol=VIX") == [(FRI, pytest.approx(22.5 / 20.0 - 1.0))]
    assert (await state.history("return:week|symbol=VIX"))[0][1] == pytest.approx(0.125)
    assert await state.history("return:week|symbol=SPX") == []  # no previous week

    # weekly flows: hedge funds (1000 + 150) - (200 + 400); the Friday 16:30 trade is next week's
    assert await state.history("net_buying:week|fund_type=hedge_fund") == [(FRI, pytest.approx(550.0))]
    assert await state.history("long_buy:week|fund_type=hedge_fund") == [(FRI, pytest.approx(1000.0))]
    assert await state.history("short_sale:week|fund_type=hedge_fund") == [(FRI, pytest.approx(400.0))]
    assert await state.history("trades:week|fund_type=hedge_fund") == [(FRI, 4.0)]
    assert await state.history("ls_flow_ratio:week|fund_type=hedge_fund") == [(FRI, pytest.approx(2.5))]
    assert await state.history("net_buying:week") == [(FRI, pytest.approx(5550.0))]
    assert await state.history("net_buying:week|fund_type=long_only") == [(FRI, pytest.approx(5000.0))]
    assert await state.history("net_buying:week|fund_type=hedge_fund|sector=Industrials") == [(FRI, pytest.approx(550.0))]

    # exposures: the week takes Friday's snapshots (F1 180/60 on 100, F2 300/100 on 200)
    assert await state.history("gross_leverage:week|strategy=equity_ls") == [(FRI, pytest.approx(640.0 / 300.0))]
    assert await state.history("net_leverage:week|strategy=equity_ls") == [(FRI, pytest.approx(320.0 / 300.0))]
    assert await state.history("nav:week|fund_type=hedge_fund") == [(FRI, pytest.approx(300.0))]
    assert await state.history("gross_leverage:day|strategy=equity_ls") == [
        (THU, pytest.approx(120.0 / 100.0)), (FRI, pytest.approx(640.0 / 300.0))
    ]

    # nothing for the weekend or the next week yet
    for sid in await state.series_ids(""):
        assert all(d.weekday() < 5 and d <= FRI for d, _ in await state.history(sid)), sid
    assert await state.history("close:day|symbol=VIX", since=NEXT_MON) == []
    assert sink.items == []

    # nothing more to close until the watermark moves
    assert await closer.advance() == 0
    assert (closer.closed_days, closer.closed_weeks) == (5, 1)


async def test_a_day_closes_only_after_its_close_plus_grace(state: MemoryState, closer: PeriodCloser) -> None:
    feed = Feed(state, closer)
    await feed.send("quotes", [close_quote(THU, 21.0)])
    # watermark Thu 20:04:59Z: before Thursday's close + 5 min grace
    await feed.send("trades", [trade("a", ts(2025, 6, 5, 20, 4, 59), "buy_long", 100.0)])
    await feed.send("quotes", [Quote(ts=ts(2025, 6, 5, 20, 4, 59), symbol="SPX", price=1.0)])
    assert await closer.advance() == 0
    assert await state.history("close:day|symbol=VIX") == []
    await feed.send("trades", [trade("b", ts(2025, 6, 5, 20, 5), "buy_long", 100.0)])
    await feed.send("quotes", [Quote(ts=ts(2025, 6, 5, 20, 5), symbol="SPX", price=2.0)])
    assert await closer.advance() == 1
    assert await state.history("close:day|symbol=VIX") == [(THU, 21.0)]


async def test_a_good_friday_week_closes_at_thursdays_close(state: MemoryState, closer: PeriodCloser) -> None:
    # Good Friday 2025-04-18 is an NYSE holiday: the week of 2025-04-18 ends Thursday 16:00 EDT (20:00Z)
    feed = Feed(state, closer)
    await feed.send("quotes", [Quote(ts=ts(2025, 4, d, 20, 0), symbol="VIX", price=30.0 + d, kind="close")
                               for d in (14, 15, 16, 17)])
    await feed.send("trades", [trade("a", ts(2025, 4, 15, 14, 0), "buy_long", 100.0),
                               trade("b", ts(2025, 4, 17, 19, 0), "buy_long", 50.0)])
    # the first events after Thursday's close + grace, as the evening's quotes bring them
    await feed.send("trades", [trade("c", ts(2025, 4, 17, 20, 6), "buy_long", 7.0)])
    await feed.send("quotes", [Quote(ts=ts(2025, 4, 17, 20, 6), symbol="SPX", price=1.0)])
    assert await closer.advance() == 5  # Monday to Thursday and the week
    assert closer.closed_weeks == 1
    good_friday = date(2025, 4, 18)
    assert await state.history("net_buying:week|fund_type=hedge_fund") == [(good_friday, pytest.approx(150.0))]
    assert await state.history("close:week|symbol=VIX") == [(good_friday, 47.0)]  # Thursday's close
    assert await state.get_rule_state(CLOSER_STATE, "progress") == {"day": "2025-04-17"}


async def test_an_early_close_closes_its_day_and_week_at_13_00(state: MemoryState, closer: PeriodCloser) -> None:
    # Friday 2025-11-28 closes at 13:00 EST (18:00Z); Thanksgiving, the Thursday, has no session
    feed = Feed(state, closer)
    await feed.send("quotes", [Quote(ts=ts(2025, 11, 26, 21, 0), symbol="VIX", price=17.0, kind="close"),
                               Quote(ts=ts(2025, 11, 28, 18, 0), symbol="VIX", price=16.5, kind="close")])
    await feed.send("trades", [trade("a", ts(2025, 11, 28, 17, 0), "buy_long", 100.0)])
    await feed.send("trades", [trade("b", ts(2025, 11, 28, 18, 4), "buy_long", 9.0)])
    await feed.send("quotes", [Quote(ts=ts(2025, 11, 28, 18, 4), symbol="SPX", price=1.0)])
    assert await closer.advance() == 2  # Wednesday, Thanksgiving; Friday waits for 13:05
    await feed.send("trades", [trade("c", ts(2025, 11, 28, 18, 5), "buy_long", 9.0)])
    await feed.send("quotes", [Quote(ts=ts(2025, 11, 28, 18, 5), symbol="SPX", price=2.0)])
    assert await closer.advance() == 2  # Friday and its week
    friday = date(2025, 11, 28)
    assert await state.history("close:day|symbol=VIX") == [(date(2025, 11, 26), 17.0), (friday, 16.5)]
    # the trades after 13:00 are the next week's
    assert await state.history("net_buying:week|fund_type=hedge_fund") == [(friday, pytest.approx(100.0))]


async def test_the_watermark_does_not_pass_the_wall_clock(state: MemoryState, sink: ListSink) -> None:
    now = [ts(2025, 6, 5, 20, 0).timestamp()]  # Thursday 16:00 EDT, the close
    closer = PeriodCloser(state, topics=["trades", "quotes"], evaluator=None, emit=sink, grace_s=GRACE_S,
                          idle_s=IDLE_S, wall_clock=lambda: now[0])
    feed = Feed(state, closer)
    await feed.send("quotes", [close_quote(WED, 20.0)])
    # stamped ten minutes ahead of the wall clock (inside SM_FUTURE_S)
    await feed.send("trades", [trade("a", ts(2025, 6, 5, 20, 10), "buy_long", 100.0)])
    await feed.send("quotes", [Quote(ts=ts(2025, 6, 5, 20, 10), symbol="SPX", price=1.0)])
    assert await closer.watermark() == now[0]
    assert await closer.advance() == 1  # Wednesday only: Thursday's close + grace has not happened
    now[0] = ts(2025, 6, 5, 20, 5).timestamp()
    assert await closer.advance() == 1  # Thursday
    # every partition silent: the newest event time plus the grace, still at most the wall clock
    for topic in ("trades", "quotes"):
        for mark in (await state.marks(topic)).values():
            mark.updated = time.time() - 10 * IDLE_S
    assert await closer.watermark() == now[0]


async def test_watermark_is_the_minimum_over_active_partitions(state: MemoryState, closer: PeriodCloser) -> None:
    assert await closer.watermark() is None
    feed = Feed(state, closer)
    await feed.send("trades", [trade("a", ts(2025, 6, 6, 21, 0), "buy_long", 100.0)], partition=0)
    await feed.send("trades", [trade("b", ts(2025, 6, 4, 12, 0), "buy_long", 100.0)], partition=1)
    await feed.send("quotes", [close_quote(FRI, 22.0)], partition=3)
    assert await closer.watermark() == ts(2025, 6, 4, 12, 0).timestamp()

    # partition 1 goes silent for longer than idle_s: it no longer holds the watermark back
    marks = await state.marks("trades")
    marks[1].updated = time.time() - IDLE_S - 5
    assert await closer.watermark() == ts(2025, 6, 6, 20, 0).timestamp()  # now min(trades p0, quotes p3)
    # just inside idle_s it still counts
    marks[1].updated = time.time() - IDLE_S + 30
    assert await closer.watermark() == ts(2025, 6, 4, 12, 0).timestamp()

    # every partition silent: nothing more is on its way, the newest event time of all plus the grace
    for topic in ("trades", "quotes"):
        for mark in (await state.marks(topic)).values():
            mark.updated = time.time() - 10 * IDLE_S
    assert await closer.watermark() == ts(2025, 6, 6, 21, 0).timestamp() + GRACE_S


class CountingState(MemoryState):
    """A MemoryState that counts reads of the partitions' marks."""

    def __init__(self) -> None:
        super().__init__()
        self.mark_reads = 0

    async def marks_of(self, topics: Sequence[str]) -> Any:
        self.mark_reads += 1
        return await super().marks_of(topics)


async def test_a_wake_by_batches_above_the_lowest_partition_reads_nothing_and_closes_nothing() -> None:
    state = CountingState()
    closer = PeriodCloser(state, topics=["trades", "quotes"], evaluator=None, emit=ListSink(), grace_s=GRACE_S,
                          idle_s=IDLE_S)
    feed = Feed(state, closer)
    await feed.send("quotes", [close_quote(MON, 18.0)], partition=0)  # the lowest: Monday 20:00Z
    await feed.send("trades", [trade("a", ts(2025, 6, 4, 14, 0), "buy_long", 100.0)], partition=1)
    assert await closer.woken() == 0  # Monday closes at 20:05Z: not yet
    reads = state.mark_reads
    # trades far ahead of the quotes: the watermark stays at the quotes' Monday close
    for i in range(3):
        await feed.send("trades", [trade(f"b{i}", ts(2025, 6, 5, 14, i), "buy_long", 100.0)], partition=1)
        assert await closer.woken() == 0
    assert (state.mark_reads, closer.wakes_skipped) == (reads, 3)
    # the quotes partition moves past Monday's close: the wake reads the marks and closes Monday
    await feed.send("quotes", [close_quote(TUE, 19.0)], partition=0)
    assert await closer.woken() == 1
    assert state.mark_reads == reads + 1 and closer.wakes_skipped == 3
    assert await state.history("close:day|symbol=VIX") == [(MON, 18.0)]
    # a timer tick reads the marks whatever was applied
    assert await closer.tick() == 0
    assert state.mark_reads == reads + 2


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(st.sampled_from([("quotes", 0), ("trades", 0), ("trades", 1)]),
                                st.integers(min_value=0, max_value=30)), min_size=1, max_size=30))
async def test_a_closer_advanced_only_on_the_wakes_it_does_not_skip_closes_what_one_advanced_on_every_wake(
    steps: list[tuple[tuple[str, int], int]],
) -> None:
    """The same batches, two closers: one advances on every wake, the other skips the wakes it may skip.

    After every batch both have closed the same days with the same points, late batches (reopens)
    included: a skipped wake never holds a close back.
    """
    topics = ["trades", "quotes"]
    states = [MemoryState(), MemoryState()]
    closers = [PeriodCloser(s, topics=topics, evaluator=None, emit=ListSink(), grace_s=GRACE_S, idle_s=10 * 86400.0)
               for s in states]
    feeds = [Feed(s, c) for s, c in zip(states, closers)]
    clocks = {("quotes", 0): 0, ("trades", 0): 0, ("trades", 1): 0}
    start = ts(2025, 6, 2, 13, 0)
    for n, ((topic, partition), hours) in enumerate(steps):
        # mostly forward; every seventh step of a partition a day back (late data inside the allowance)
        clocks[(topic, partition)] += hours if n % 7 else -24
        at = start + timedelta(hours=max(clocks[(topic, partition)], 0))
        event = (Quote(ts=at, symbol="VIX", price=float(10 + n), kind="close") if topic == "quotes"
                 else trade(f"t{n}", at, "buy_long", 100.0 + n))
        for feed in feeds:
            await feed.send(topic, [event], partition=partition)
        await closers[0].tick()
        await closers[1].woken()
        progress = [await s.get_rule_state(CLOSER_STATE, "progress") for s in states]
        assert progress[0] == progress[1], f"after step {n}"
        assert await states[0].history("close:day|symbol=VIX") == await states[1].history("close:day|symbol=VIX")
        assert (await states[0].history("net_buying:week|fund_type=hedge_fund")
                == await states[1].history("net_buying:week|fund_type=hedge_fund"))
    assert closers[0].wakes_skipped == 0


class HeldState(MemoryState):
    """A MemoryState whose writes of a period's points wait, while ``hold`` is set, until ``release``."""

    def __init__(self) -> None:
        super().__init__()
        self.hold = False
        self.release = asyncio.Event()

    async def put_points(self, period: date, points: Any) -> None:
        if self.hold:
            await self.release.wait()
        await super().put_points(period, points)


async def test_ingest_waits_for_a_close_its_batch_made_due_and_no_longer_than_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = HeldState()
    closer = PeriodCloser(state, topics=["quotes"], evaluator=None, emit=ListSink(), grace_s=GRACE_S, idle_s=IDLE_S)
    feed = Feed(state, closer)
    await feed.send("quotes", [close_quote(MON, 18.0)])
    assert await closer.tick() == 0  # Monday closes at 20:05Z: not yet
    running = asyncio.create_task(closer.run(interval_s=60.0))
    try:
        # a batch that cannot make a close due: the next batch goes on at once
        await feed.send("quotes", [Quote(ts=ts(2025, 6, 2, 20, 1), symbol="SPX", price=5000.0)])
        await asyncio.wait_for(closer.make_way(), 0.01)
        assert closer.ingest_waits == 0
        # Tuesday's close passes Monday's: the next batch waits until Monday is closed
        state.hold = True
        await feed.send("quotes", [close_quote(TUE, 19.0)])
        closer.wake()
        waiting = asyncio.create_task(closer.make_way())
        await asyncio.sleep(0.05)
        assert not waiting.done() and closer.ingest_waits == 1
        state.release.set()
        await asyncio.wait_for(waiting, 1.0)
        assert await state.history("close:day|symbol=VIX") == [(MON, 18.0)]
        # a close that does not finish holds the ingest back for MAKE_WAY_S at most
        monkeypatch.setattr("signal_monitor.agents.closer.MAKE_WAY_S", 0.05)
        state.release.clear()
        await feed.send("quotes", [close_quote(WED, 20.0)])
        closer.wake()
        await asyncio.wait_for(closer.make_way(), 1.0)
        assert closer.ingest_waits == 2
        assert await state.history("close:day|symbol=VIX") == [(MON, 18.0)]  # Tuesday still closing
        state.release.set()
        await asyncio.sleep(0.05)
        assert await state.history("close:day|symbol=VIX") == [(MON, 18.0), (TUE, 19.0)]
        # a worker catching up on a backlog does not wait for the closes it makes due
        state.release.clear()
        await feed.send("quotes", [close_quote(THU, 21.0)], unread=AT_HEAD_LAG + 1)
        closer.wake()
        await asyncio.sleep(0.05)  # Wednesday's close is under way (held)
        await asyncio.wait_for(closer.make_way(), 0.01)
        assert closer.ingest_waits == 2
        state.release.set()
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


async def test_a_partition_with_unread_messages_holds_the_watermark(state: MemoryState, closer: PeriodCloser) -> None:
    feed = Feed(state, closer)
    await feed.send("quotes", [close_quote(MON, 18.0), close_quote(TUE, 19.0)], partition=0)
    # a consumer owns trades partition 2, which holds 5 messages, none applied yet
    await state.register("trades", 2, highwater=5)
    assert await closer.watermark() is None
    assert await closer.advance() == 0
    # its messages applied (offsets 0..4, end offset 5): it is caught up and counts like any other
    await feed.send("trades", [trade(f"t{i}", ts(2025, 6, 3, 14, i), "buy_long", 100.0) for i in range(5)], partition=2)
    (await state.marks("trades"))[2].highwater = 5
    assert await closer.watermark() == ts(2025, 6, 3, 14, 4).timestamp()
    assert await closer.advance() == 1  # Monday
    # silent for longer than idle_s while caught up: it stops counting
    (await state.marks("trades"))[2].updated = time.time() - IDLE_S - 1
    assert await closer.watermark() == ts(2025, 6, 3, 20, 0).timestamp()


async def test_an_idle_partition_does_not_block_closing(state: MemoryState, closer: PeriodCloser) -> None:
    feed = Feed(state, closer)
    await feed.send("quotes", [close_quote(MON, 18.0), close_quote(TUE, 19.0)], partition=0)
    await feed.send("quotes", [Quote(ts=ts(2025, 6, 2, 14, 0), symbol="SPX", price=1.0)], partition=1)
    assert await closer.advance() == 0  # partition 1 holds the watermark at Monday 14:00Z
    (await state.marks("quotes"))[1].updated = time.time() - IDLE_S - 1
    assert await closer.advance() == 1  # Monday closes at 20:05Z <= Tuesday 20:00Z; Tuesday does not
    assert await state.history("close:day|symbol=VIX") == [(MON, 18.0)]


async def test_late_event_reopens_a_closed_week(state: MemoryState, closer: PeriodCloser) -> None:
    await state.put_series("close:week|symbol=VIX", [(PREV_FRI, 20.0)])
    feed = Feed(state, closer)
    await feed_week(feed)
    assert await closer.advance() == 6

    # a hedge-fund trade of Wednesday and a Thursday close of SPX arrive after the week closed
    await feed.send("trades", [trade("late", ts(2025, 6, 4, 16, 0), "buy_long", 100.0)])
    await feed.send("quotes", [close_quote(THU, 5050.0, symbol="SPX")])
    # nothing recomputed until the next advance
    assert await state.history("net_buying:week|fund_type=hedge_fund") == [(FRI, pytest.approx(550.0))]

    redone = await closer.advance()
    assert redone >= 2  # the week and Thursday, recomputed
    assert (closer.closed_days, closer.closed_weeks) == (5, 1)  # recomputing is not closing again
    assert await state.history("net_buying:week|fund_type=hedge_fund") == [(FRI, pytest.approx(650.0))]
    assert await state.history("long_buy:week|fund_type=hedge_fund") == [(FRI, pytest.approx(1100.0))]
    assert await state.history("trades:week|fund_type=hedge_fund") == [(FRI, 5.0)]
    assert await state.history("close:day|symbol=SPX") == [(WED, 5000.0), (THU, 5050.0)]
    assert await state.history("close:week|symbol=SPX") == [(FRI, 5050.0)]
    # untouched points stay as they were, one per period
    assert await state.history("close:week|symbol=VIX") == [(PREV_FRI, 20.0), (FRI, 22.5)]
    assert await state.history("return:week|symbol=VIX") == [(FRI, pytest.approx(0.125))]

    # and once only
    assert await closer.advance() == 0


async def test_late_event_in_an_open_week_does_not_reopen(state: MemoryState, closer: PeriodCloser) -> None:
    feed = Feed(state, closer)
    await feed_week(feed)
    await closer.advance()
    # a trade of the next (still open) week
    await feed.send("trades", [trade("next", ts(2025, 6, 9, 15, 0), "buy_long", 100.0)])
    assert await closer.advance() == 0
    assert await state.history("net_buying:week|fund_type=hedge_fund", since=NEXT_FRI) == []


class LeaseClockState(MemoryState):
    """A MemoryState whose claims (the closer's leases among them) run out when the test moves ``now``."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.clock = lambda: self.now


TOPICS = ["trades", "quotes", "exposures", "observations"]
LEASE_S = 60.0


class DyingEvaluator:
    """Evaluates like the rule engine but dies while evaluating the day ``die_on``, once."""

    def __init__(self, die_on: date) -> None:
        self.die_on = die_on
        self.died = False
        self.evaluated: list[tuple[date, str, bool]] = []

    async def evaluate(self, period: date, granularity: str, *, resume: bool = False) -> list[Any]:
        if period == self.die_on and granularity == "day" and not self.died:
            self.died = True
            raise RuntimeError("killed while evaluating")
        self.evaluated.append((period, granularity, resume))
        return []

    async def reevaluate(self, period: date, granularity: str, *, resume: bool = False) -> list[Any]:
        return []


async def test_a_closer_that_dies_mid_close_is_taken_over_once_its_lease_runs_out(sink: ListSink) -> None:
    state = LeaseClockState()
    evaluator = DyingEvaluator(die_on=WED)
    first = PeriodCloser(state, topics=TOPICS, evaluator=evaluator, emit=sink, grace_s=GRACE_S, idle_s=IDLE_S,
                         claim_ttl_s=LEASE_S)
    await feed_week(Feed(state, first))
    with pytest.raises(RuntimeError):
        await first.advance()
    # the day that was being closed is not marked done: Monday and Tuesday are
    assert await state.get_rule_state(CLOSER_STATE, "progress") == {"day": "2025-06-03"}
    second = PeriodCloser(state, topics=TOPICS, evaluator=evaluator, emit=sink, grace_s=GRACE_S, idle_s=IDLE_S,
                          claim_ttl_s=LEASE_S)
    assert await second.advance() == 0, "the dead closer's lease on Wednesday still holds"
    state.now += LEASE_S
    assert await second.advance() == 4  # Wednesday, Thursday, Friday and the week
    assert await state.get_rule_state(CLOSER_STATE, "progress") == {"day": "2025-06-06"}
    # Wednesday's close was started and not finished: it is resumed; the days after are closed as usual
    assert evaluator.evaluated == [
        (MON, "day", False), (TUE, "day", False), (WED, "day", True), (THU, "day", False), (FRI, "day", False),
        (FRI, "week", False),
    ]


# --- taking over a close whose alerts were evaluated and not handed on ----------------------------------

TAKEOVER_RULES = """
rules:
  - id: close_up
    description: A close above zero.
    metric: close
    period: day
    scope: {symbol: "*"}
    kind: streak
    params: {condition: gt, level: 0, min_count: 1}
    severity: info
  - id: week_net_buying
    description: Net buying this week.
    metric: net_buying
    period: week
    scope: {fund_type: "*"}
    kind: streak
    params: {condition: gt, level: 0, min_count: 1}
    severity: warning
"""


class Killed(Exception):
    """Stands for the SIGKILL of the worker that holds the close."""


class Delivery:
    """What lies downstream of the closers: the alerts topic (every record) and an outbox that admits a key once."""

    def __init__(self) -> None:
        self.topic: list[Any] = []
        self.posted: dict[str, Any] = {}

    def take(self, alerts: Sequence[Any]) -> None:
        self.topic.extend(alerts)
        for alert in alerts:
            self.posted.setdefault(alert.dedup_key, alert)

    def posts(self) -> list[str]:
        return sorted(self.posted)


class DyingSink:
    """Hands alerts on like the app's emit, except that the worker is killed at the emit of ``die_at``.

    ``handed`` of that emit's alerts are on the topic before the kill (the app produces them one by one
    and queues them for delivery after the last one).
    """

    def __init__(self, delivery: Delivery, die_at: tuple[date, str], handed: int = 0) -> None:
        self.delivery = delivery
        self.die_at = die_at
        self.handed = handed
        self.doomed: list[Any] = []

    async def __call__(self, alerts: Sequence[Any]) -> None:
        first = alerts[0]
        if (first.period_end, first.granularity) == self.die_at:
            self.doomed = list(alerts)
            self.delivery.topic.extend(alerts[: self.handed])
            raise Killed
        self.delivery.take(alerts)


def closer_of(state: MemoryState, emit: Any, **over: Any) -> PeriodCloser:
    rules = parse_rules(TAKEOVER_RULES)
    engine = RuleEngine(rules, state, clock=lambda: datetime(2025, 6, 9, tzinfo=UTC))
    kwargs: dict[str, Any] = {"topics": TOPICS, "grace_s": GRACE_S, "idle_s": IDLE_S, "claim_ttl_s": LEASE_S, **over}
    return PeriodCloser(state, evaluator=engine, emit=emit, **kwargs)


def keys(alerts: Sequence[Any]) -> list[str]:
    return sorted(a.dedup_key for a in alerts)


def week_keys() -> list[str]:
    return sorted(dedup_key("week_net_buying", {"fund_type": t}, FRI) for t in ("hedge_fund", "long_only"))


async def normal_run(state: MemoryState | None = None) -> Delivery:
    """The alerts of the test week closed by one closer that does not die (on ``state``; a new one by default)."""
    state = MemoryState() if state is None else state
    delivery = Delivery()

    async def emit(alerts: Sequence[Any]) -> None:
        delivery.take(alerts)

    closer = closer_of(state, emit)
    await feed_week(Feed(state, closer))
    await closer.advance()
    return delivery


async def test_a_normal_close_hands_each_alert_on_once() -> None:
    state = LeaseClockState()
    delivery = Delivery()

    async def emit(alerts: Sequence[Any]) -> None:
        delivery.take(alerts)

    closer = closer_of(state, emit)
    feed = Feed(state, closer)
    await feed_week(feed)
    assert await closer.advance() == 6
    assert keys(delivery.topic) == delivery.posts()  # nothing twice on the topic
    assert [a.dedup_key for a in delivery.topic if a.granularity == "week"] == week_keys()
    assert sorted(a.period_end for a in delivery.topic if a.rule == "close_up" and a.scope["symbol"] == "VIX") == [
        MON, TUE, WED, THU, FRI
    ]
    on_topic = len(delivery.topic)
    # later closes, by this closer or by another worker's after every lease ran out, hand on nothing again
    state.now += 10 * LEASE_S
    assert await closer.advance() == 0
    other = closer_of(state, emit)
    assert await other.advance() == 0
    await feed.send("quotes", [close_quote(NEXT_MON, 25.0), Quote(ts=ts(2025, 6, 10, 14, 0), symbol="SPX", price=1.0)])
    await feed.send("trades", [trade("n1", ts(2025, 6, 10, 14, 0), "buy_long", 10.0)])
    await feed.send("exposures", [snapshot("F1", ts(2025, 6, 10, 14, 0), 100.0, 100.0, 20.0)])
    assert await other.advance() == 1  # Monday of the next week
    assert [(a.rule, a.period_end) for a in delivery.topic[on_topic:]] == [("close_up", NEXT_MON)]
    assert keys(delivery.topic) == delivery.posts()


@pytest.mark.parametrize("handed", [0, 1], ids=["before-any", "after-the-first"])
async def test_a_close_killed_at_the_emit_is_taken_over_and_its_alerts_handed_on(handed: int) -> None:
    state = LeaseClockState()
    delivery = Delivery()
    dying = DyingSink(delivery, die_at=(FRI, "week"), handed=handed)
    first = closer_of(state, dying)
    await feed_week(Feed(state, first))
    with pytest.raises(Killed):
        await first.advance()
    # the dead worker had evaluated the week, claimed its alerts and written their results
    assert keys(dying.doomed) == week_keys()
    assert not any(a.granularity == "week" for a in delivery.posted.values())

    async def emit(alerts: Sequence[Any]) -> None:
        delivery.take(alerts)

    second = closer_of(state, emit)
    assert await second.advance() == 0  # the lease still holds
    state.now += LEASE_S
    assert await second.advance() == 1  # the week only: Friday's day close was finished
    assert await state.get_rule_state(CLOSER_STATE, "progress") == {"day": "2025-06-06"}
    # the same alerts as the dead worker evaluated, same keys, same content
    taken_over = [a for a in delivery.topic if a.granularity == "week"][handed:]
    assert [a.model_dump_json() for a in taken_over] == [a.model_dump_json() for a in dying.doomed]
    # once each past the outbox's claim; on the topic, only what the dead worker had produced comes twice
    assert delivery.posts() == (await normal_run()).posts()
    repeated = len(delivery.topic) - len(delivery.posted)
    assert repeated == handed
    # the day alerts were not handed on again
    assert len([a for a in delivery.topic if a.granularity == "day"]) == len(
        {a.dedup_key for a in delivery.topic if a.granularity == "day"}
    )
    # and once only: nothing more on later advances
    before = len(delivery.topic)
    state.now += 10 * LEASE_S
    assert await second.advance() == 0
    assert len(delivery.topic) == before


async def test_a_close_cancelled_at_the_emit_is_taken_over() -> None:
    state = LeaseClockState()
    delivery = Delivery()
    reached = asyncio.Event()
    doomed: list[Any] = []

    async def stuck(alerts: Sequence[Any]) -> None:
        if alerts[0].granularity == "week":
            doomed.extend(alerts)
            reached.set()
            await asyncio.Event().wait()  # the worker stops here for good
        delivery.take(alerts)

    first = closer_of(state, stuck)
    await feed_week(Feed(state, first))
    task = asyncio.create_task(first.advance())
    await reached.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    async def emit(alerts: Sequence[Any]) -> None:
        delivery.take(alerts)

    state.now += LEASE_S
    assert await closer_of(state, emit).advance() == 1
    assert [a.dedup_key for a in delivery.topic if a.granularity == "week"] == [a.dedup_key for a in doomed]
    assert delivery.posts() == (await normal_run()).posts()
    assert len(delivery.topic) == len(delivery.posted)


async def test_a_close_killed_while_evaluating_the_day_resumes_both_periods() -> None:
    # killed at the emit of Friday's day alerts: the take-over hands them on, then closes the week as usual
    state = LeaseClockState()
    delivery = Delivery()
    dying = DyingSink(delivery, die_at=(FRI, "day"))
    await feed_week(Feed(state, closer_of(state, dying)))
    with pytest.raises(Killed):
        await closer_of(state, dying).advance()
    assert {a.period_end for a in dying.doomed} == {FRI}

    async def emit(alerts: Sequence[Any]) -> None:
        delivery.take(alerts)

    state.now += LEASE_S
    assert await closer_of(state, emit).advance() == 2
    assert delivery.posts() == (await normal_run()).posts()
    assert len(delivery.topic) == len(delivery.posted)


async def test_corrections_after_a_take_over_are_emitted_once() -> None:
    state = LeaseClockState()
    delivery = Delivery()
    dying = DyingSink(delivery, die_at=(FRI, "week"))
    feed = Feed(state, closer_of(state, dying))
    await feed_week(feed)
    with pytest.raises(Killed):
        await feed.closer.advance()

    async def emit(alerts: Sequence[Any]) -> None:
        delivery.take(alerts)

    state.now += LEASE_S
    second = closer_of(state, emit)
    feed.closer = second
    assert await second.advance() == 1
    # a late hedge-fund sale of Wednesday turns the week's hedge-fund net buying negative
    await feed.send("trades", [trade("late", ts(2025, 6, 4, 16, 0), "sell_long", 1000.0)])
    assert await second.advance() >= 1
    [fix] = [a for a in delivery.topic if a.correction]
    hedge = dedup_key("week_net_buying", {"fund_type": "hedge_fund"}, FRI)
    assert fix.dedup_key == f"{hedge}:v2" and not fix.fired
    assert await second.advance() == 0
    assert len([a for a in delivery.topic if a.correction]) == 1


# --- corrections are not lost with the worker that noted the late data -------------------------------------

HEDGE_WEEK = dedup_key("week_net_buying", {"fund_type": "hedge_fund"}, FRI)


class CorrectionKiller:
    """Hands alerts on, except that the worker is killed at the emit of its first corrections."""

    def __init__(self, delivery: Delivery) -> None:
        self.delivery = delivery
        self.doomed: list[Any] = []

    async def __call__(self, alerts: Sequence[Any]) -> None:
        if any(a.correction for a in alerts) and not self.doomed:
            self.doomed = list(alerts)
            raise Killed
        self.delivery.take(alerts)


def corrections(delivery: Delivery) -> list[str]:
    return [a.dedup_key for a in delivery.topic if a.correction]


async def closed_week(state: MemoryState, delivery: Delivery) -> Feed:
    """The test week fed and closed by a closer that hands every alert on."""

    async def emit(alerts: Sequence[Any]) -> None:
        delivery.take(alerts)

    feed = Feed(state, closer_of(state, emit))
    await feed_week(feed)
    assert await feed.closer.advance() == 6
    return feed


async def late_sale(feed: Feed) -> None:
    # a late hedge-fund sale of Wednesday turns the week's hedge-fund net buying negative
    await feed.send("trades", [trade("late", ts(2025, 6, 4, 16, 0), "sell_long", 1000.0)])


async def test_a_late_batch_noted_by_a_worker_that_dies_is_recomputed_by_another() -> None:
    state = LeaseClockState()
    delivery = Delivery()
    feed = await closed_week(state, delivery)

    async def emit(alerts: Sequence[Any]) -> None:
        delivery.take(alerts)

    # another worker, already running (reading the reopen lists on every advance)
    other = closer_of(state, emit, reopen_scan_s=0.0)
    assert await other.advance() == 0
    await late_sale(feed)  # noted by the first worker, which dies before its next advance
    assert await other.advance() == 1  # the week, recomputed
    assert await state.history("net_buying:week|fund_type=hedge_fund") == [(FRI, pytest.approx(-450.0))]
    [fix] = [a for a in delivery.topic if a.correction]
    assert fix.dedup_key == f"{HEDGE_WEEK}:v2" and not fix.fired
    # once only, whoever advances next
    assert await other.advance() == 0
    state.now += 10 * LEASE_S
    assert await closer_of(state, emit).advance() == 0
    assert corrections(delivery) == [f"{HEDGE_WEEK}:v2"]
    # the partition's reopen entry, written with the late batch, is dropped once recomputed
    assert await state.reopened("trades") == {}


async def test_reopen_lists_of_the_earlier_layout_are_still_recomputed_and_dropped() -> None:
    """Earlier versions kept the reopen lists in the closer's rule state, written after the apply."""
    state = LeaseClockState()
    delivery = Delivery()
    feed = await closed_week(state, delivery)
    start = feed.offsets[("trades", 0)]
    batch, _ = fold("trades", 0, [(start, trade("late", ts(2025, 6, 4, 16, 0), "sell_long", 1000.0))])
    batch.reopened = ()
    state._marks[("trades", 0)].closing = ""  # as before the upgrade: the apply lists nothing
    assert (await state.apply(batch)).applied
    await state.set_rule_state(CLOSER_STATE, "reopen:trades:0", {"periods": {"week:2025-06-06": start}})

    async def emit(alerts: Sequence[Any]) -> None:
        delivery.take(alerts)

    other = closer_of(state, emit, reopen_scan_s=0.0)
    assert await other.advance() == 1
    assert await state.history("net_buying:week|fund_type=hedge_fund") == [(FRI, pytest.approx(-450.0))]
    assert await other.advance() == 0
    assert await state.get_rule_state(CLOSER_STATE, "reopen:trades:0") == {"periods": {}}


async def test_a_correction_claimed_and_not_handed_on_is_handed_on_by_the_take_over() -> None:
    state = LeaseClockState()
    delivery = Delivery()
    feed = await closed_week(state, delivery)
    killer = CorrectionKiller(delivery)
    feed.closer.emit = killer
    await late_sale(feed)
    with pytest.raises(Killed):
        await feed.closer.advance()
    # the dead worker had claimed the correction: a plain re-run would find the claim taken
    assert [a.dedup_key for a in killer.doomed] == [f"{HEDGE_WEEK}:v2"]
    assert corrections(delivery) == []

    async def emit(alerts: Sequence[Any]) -> None:
        delivery.take(alerts)

    second = closer_of(state, emit)
    assert await second.advance() == 0, "the dead worker's lease on the recompute still holds"
    assert corrections(delivery) == []
    state.now += LEASE_S
    assert await second.advance() == 1
    # the very correction the dead worker had claimed, handed on once
    assert [a.model_dump_json() for a in delivery.topic if a.correction] == [
        a.model_dump_json() for a in killer.doomed
    ]
    assert await second.advance() == 0
    state.now += 10 * LEASE_S
    assert await closer_of(state, emit).advance() == 0
    assert corrections(delivery) == [f"{HEDGE_WEEK}:v2"]
    assert len(delivery.topic) == len(delivery.posted)


async def test_a_take_over_after_a_newer_late_batch_hands_on_both_corrections() -> None:
    state = LeaseClockState()
    delivery = Delivery()
    feed = await closed_week(state, delivery)
    killer = CorrectionKiller(delivery)
    feed.closer.emit = killer
    await late_sale(feed)
    with pytest.raises(Killed):
        await feed.closer.advance()

    async def emit(alerts: Sequence[Any]) -> None:
        delivery.take(alerts)

    second = closer_of(state, emit)
    feed.closer = second
    # a later batch turns it positive again: a recompute of its own, not held back by the dead worker's lease
    await feed.send("trades", [trade("later", ts(2025, 6, 4, 17, 0), "buy_long", 3000.0)])
    assert await second.advance() == 1
    assert corrections(delivery) == [f"{HEDGE_WEEK}:v2", f"{HEDGE_WEEK}:v3"]
    assert [a.model_dump_json() for a in delivery.topic if a.correction][:1] == [
        a.model_dump_json() for a in killer.doomed
    ]
    state.now += 10 * LEASE_S
    assert await closer_of(state, emit).advance() == 0
    assert len(delivery.topic) == len(delivery.posted)


async def test_corrections_in_the_normal_path_are_handed_on_once() -> None:
    state = LeaseClockState()
    delivery = Delivery()
    feed = await closed_week(state, delivery)
    on_topic = len(delivery.topic)
    await late_sale(feed)
    assert await feed.closer.advance() == 1
    assert await feed.closer.advance() == 0
    await feed.send("trades", [trade("later", ts(2025, 6, 4, 17, 0), "buy_long", 3000.0)])
    assert await feed.closer.advance() == 1
    state.now += 10 * LEASE_S
    assert await closer_of(state, feed.closer.emit).advance() == 0
    assert [a.dedup_key for a in delivery.topic[on_topic:]] == [f"{HEDGE_WEEK}:v2", f"{HEDGE_WEEK}:v3"]
    assert len(delivery.topic) == len(delivery.posted)


# --- Redis unreachable for a moment ----------------------------------------------------------------------


class Flaky:
    """Wraps a state: the named methods raise a Redis ConnectionError on their first ``times`` calls."""

    def __init__(self, inner: MemoryState, fail: dict[str, int]) -> None:
        self._inner = inner
        self._fail = dict(fail)
        self.failed = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in self._fail:
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self._fail[name] > 0:
                self._fail[name] -= 1
                self.failed += 1
                raise RedisConnectionError("Connection refused")
            return await attr(*args, **kwargs)

        return call


async def test_note_waits_for_redis() -> None:
    inner = MemoryState()
    flaky = Flaky(inner, {"get_rule_state": 2})
    closer = PeriodCloser(
        flaky,  # type: ignore[arg-type]
        topics=TOPICS, evaluator=None, emit=ListSink(), grace_s=GRACE_S, idle_s=IDLE_S, retry_max_s=0.001,
    )
    batch, _ = fold("quotes", 0, [(0, close_quote(MON, 18.0))])
    assert (await inner.apply(batch)).applied
    await closer.note(batch)
    assert flaky.failed == 2 and closer.store_retries == 2
    assert await inner.get_rule_state(CLOSER_STATE, "progress") == {"day": "2025-06-01"}


@pytest.mark.parametrize("method", ["claim", "set_rule_state", "put_points", "emit"])
async def test_advance_waits_for_redis_and_hands_every_alert_on_once(method: str) -> None:
    state = MemoryState()
    delivery = Delivery()
    calls = {"emit": 0}

    async def emit(alerts: Sequence[Any]) -> None:
        # the app's emit writes to Redis too (the alert log, the outbox): fail the week's once, after the topic
        if method == "emit" and alerts[0].granularity == "week" and not calls["emit"]:
            calls["emit"] += 1
            delivery.topic.extend(alerts)
            raise RedisConnectionError("Connection refused")
        delivery.take(alerts)

    flaky = Flaky(state, {} if method == "emit" else {method: 0})
    closer = closer_of(flaky, emit, retry_max_s=0.001)  # type: ignore[arg-type]
    await feed_week(Feed(state, closer))
    if method != "emit":
        # fail at the first call made while the week is closed
        original = closer._close

        async def close(period: date, granularity: Any, *, resume: bool = False) -> int:
            if granularity == "week" and not flaky.failed:
                flaky._fail[method] = 1
            return await original(period, granularity, resume=resume)

        closer._close = close  # type: ignore[method-assign]
    assert await closer.advance() >= 6
    assert closer.store_retries == 1
    assert await state.get_rule_state(CLOSER_STATE, "progress") == {"day": "2025-06-06"}
    assert delivery.posts() == (await normal_run()).posts()
    assert await closer.advance() == 0


async def test_advance_raises_other_errors() -> None:
    state = MemoryState()

    async def emit(alerts: Sequence[Any]) -> None:
        raise ValueError("a bug")

    closer = closer_of(state, emit, retry_max_s=0.001)
    await feed_week(Feed(state, closer))
    with pytest.raises(ValueError):
        await closer.advance()
    assert closer.store_retries == 0


# --- the same over Redis ---------------------------------------------------------------------------------


class RedisFeed(Feed):
    """A Feed onto the topic names the RedisState reads (``signals.<kind>``)."""

    async def send(self, topic: str, events: Sequence[Any], partition: int = 0) -> None:
        await super().send(f"signals.{topic}", events, partition)


async def test_a_take_over_over_redis(redis_url: str, key_prefix: str) -> None:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        state = RedisState(client, prefix=key_prefix, topic_prefix="signals")
        delivery = Delivery()
        dying = DyingSink(delivery, die_at=(FRI, "week"), handed=1)
        wm = {"t": ts(2025, 6, 9, 14, 0).timestamp()}
        first = closer_of(state, dying, clock=lambda: wm["t"])  # type: ignore[arg-type]
        await feed_week(RedisFeed(state, first))  # type: ignore[arg-type]
        with pytest.raises(Killed):
            await first.advance()

        async def emit(alerts: Sequence[Any]) -> None:
            delivery.take(alerts)

        second = closer_of(state, emit, clock=lambda: wm["t"])  # type: ignore[arg-type]
        assert await second.advance() == 0
        await client.delete(f"{{{key_prefix}:rule:__closer__}}:lease:close:2025-06-06")  # the lease runs out
        assert await second.advance() == 1
        taken_over = [a for a in delivery.topic if a.granularity == "week"][1:]
        assert [a.model_dump_json() for a in taken_over] == [a.model_dump_json() for a in dying.doomed]
        assert delivery.posts() == (await normal_run()).posts()
        assert len(delivery.topic) - len(delivery.posted) == 1
    finally:
        await client.aclose()


async def test_a_correction_taken_over_over_redis(redis_url: str, key_prefix: str) -> None:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        state = RedisState(client, prefix=key_prefix, topic_prefix="signals")
        delivery = Delivery()
        wm = {"t": ts(2025, 6, 9, 14, 0).timestamp()}
        topics = [f"signals.{t}" for t in TOPICS]

        async def emit(alerts: Sequence[Any]) -> None:
            delivery.take(alerts)

        first = closer_of(state, emit, clock=lambda: wm["t"], topics=topics)  # type: ignore[arg-type]
        feed = RedisFeed(state, first)  # type: ignore[arg-type]
        await feed_week(feed)
        assert await first.advance() == 6
        killer = CorrectionKiller(delivery)
        first.emit = killer
        await late_sale(feed)
        with pytest.raises(Killed):
            await first.advance()
        assert [a.dedup_key for a in killer.doomed] == [f"{HEDGE_WEEK}:v2"]

        second = closer_of(state, emit, clock=lambda: wm["t"], topics=topics)  # type: ignore[arg-type]
        assert await second.advance() == 0  # the dead worker's lease holds
        [lease] = await client.keys(f"{{{key_prefix}:rule:__closer__}}:lease:recompute:*")
        await client.delete(lease)  # the lease runs out
        assert await second.advance() == 1
        assert [a.model_dump_json() for a in delivery.topic if a.correction] == [
            a.model_dump_json() for a in killer.doomed
        ]
        assert await second.advance() == 0
        assert corrections(delivery) == [f"{HEDGE_WEEK}:v2"]
        assert len(delivery.topic) == len(delivery.posted)
    finally:
        await client.aclose()


# --- the reopen entry of a late batch is written with the batch --------------------------------------------


async def test_a_late_batch_applied_by_a_worker_that_dies_before_noting_it_is_recomputed(
    state: MemoryState, closer: PeriodCloser
) -> None:
    feed = Feed(state, closer)
    await feed_week(feed)
    assert await closer.advance() == 6
    # a late hedge-fund sale of Wednesday is applied; the worker dies before its closer hears of it
    start = feed.offsets[("trades", 0)]
    batch, _ = fold("trades", 0, [(start, trade("late", ts(2025, 6, 4, 16, 0), "sell_long", 1000.0))])
    assert (await state.apply(batch)).applied
    other = PeriodCloser(state, topics=["trades", "quotes", "exposures", "observations"], evaluator=None,
                         emit=ListSink(), grace_s=GRACE_S, idle_s=IDLE_S, reopen_scan_s=0.0)
    assert await other.advance() == 1  # the week, recomputed
    assert await state.history("net_buying:week|fund_type=hedge_fund") == [(FRI, pytest.approx(-450.0))]
    assert await other.advance() == 0


class LandsDuringTheClose(MemoryState):
    """Runs ``during`` once, right after the close of a week read the week's flow sums."""

    during: Any = None

    async def flow_sums(self, week: date) -> dict[str, dict[str, float]]:
        sums = await super().flow_sums(week)
        if self.during is not None:
            during, self.during = self.during, None
            await during()
        return sums


async def test_a_late_batch_that_lands_while_its_week_is_being_closed_reopens_it() -> None:
    state = LandsDuringTheClose()
    closer = PeriodCloser(state, topics=["trades", "quotes", "exposures", "observations"], evaluator=None,
                          emit=ListSink(), grace_s=GRACE_S, idle_s=IDLE_S)
    feed = Feed(state, closer)
    await feed_week(feed)

    async def late_sale() -> None:
        await feed.send("trades", [trade("late", ts(2025, 6, 4, 16, 0), "sell_long", 1000.0)])

    state.during = late_sale  # applied and noted after the close read the sums, before it finished
    assert await closer.advance() == 6
    assert await state.history("net_buying:week|fund_type=hedge_fund") == [(FRI, pytest.approx(550.0))]
    assert await closer.advance() == 1  # the week, recomputed with the late sale
    assert await state.history("net_buying:week|fund_type=hedge_fund") == [(FRI, pytest.approx(-450.0))]
    assert await closer.advance() == 0


# --- a close whose lease runs out while it still runs ------------------


class StallingEngine:
    """The rule engine, except that the evaluation of ``stall_at`` stalls (a paused process) after it evaluated."""

    def __init__(self, engine: RuleEngine, stall_at: tuple[date, str]) -> None:
        self.engine = engine
        self.stall_at = stall_at
        self.reached = asyncio.Event()
        self.release = asyncio.Event()

    async def evaluate(self, period: date, granularity: str, *, resume: bool = False) -> list[Any]:
        alerts = await self.engine.evaluate(period, granularity, resume=resume)  # type: ignore[arg-type]
        if (period, granularity) == self.stall_at and not self.reached.is_set():
            self.reached.set()
            await self.release.wait()
        return alerts

    async def reevaluate(self, period: date, granularity: str, *, resume: bool = False) -> list[Any]:
        return await self.engine.reevaluate(period, granularity, resume=resume)  # type: ignore[arg-type]


async def test_a_close_taken_over_while_its_first_holder_still_runs_is_fenced() -> None:
    state = LeaseClockState()
    delivery = Delivery()

    async def emit(alerts: Sequence[Any]) -> None:
        delivery.take(alerts)

    first = closer_of(state, emit)
    stalling = StallingEngine(first.evaluator, stall_at=(WED, "day"))  # type: ignore[arg-type]
    first.evaluator = stalling
    await feed_week(Feed(state, first))
    worker_a = asyncio.create_task(first.advance())
    await stalling.reached.wait()  # A evaluated Wednesday, its alerts in hand, and stalls
    state.now += LEASE_S  # past A's lease
    second = closer_of(state, emit)
    assert await second.advance() == 4  # B takes Wednesday over, then Thursday, Friday and the week
    assert await state.get_rule_state(CLOSER_STATE, "progress") == {"day": "2025-06-06"}
    on_topic = len(delivery.topic)
    stalling.release.set()  # A goes on where it stalled
    await worker_a
    # A's next write (the claim of Wednesday's alerts) was refused: it stopped, handed nothing on,
    # and the progress did not go back to Wednesday
    assert await state.get_rule_state(CLOSER_STATE, "progress") == {"day": "2025-06-06"}
    assert keys(delivery.topic) == delivery.posts()  # each alert once on the topic
    assert len(delivery.topic) == on_topic
    assert delivery.posts() == (await normal_run()).posts()
    assert first.leases_lost == 1


async def test_a_slow_close_renews_its_lease_and_is_not_taken_over() -> None:
    state = MemoryState()  # a real clock: the lease runs out unless renewed
    delivery = Delivery()
    stalled = asyncio.Event()

    async def slow(alerts: Sequence[Any]) -> None:
        if alerts[0].granularity == "week" and not stalled.is_set():
            stalled.set()
            await asyncio.sleep(1.0)  # a stalled producer: several times the lease
        delivery.take(alerts)

    async def emit(alerts: Sequence[Any]) -> None:
        delivery.take(alerts)

    first = closer_of(state, slow, claim_ttl_s=0.3)
    await feed_week(Feed(state, first))
    worker_a = asyncio.create_task(first.advance())
    await stalled.wait()
    second = closer_of(state, emit, claim_ttl_s=0.3)
    for _ in range(8):
        await asyncio.sleep(0.1)
        assert await second.advance() == 0  # A still holds the week's close: renewed
    assert await worker_a == 6
    assert first.leases_lost == 0
    assert keys(delivery.topic) == delivery.posts()
    assert delivery.posts() == (await normal_run()).posts()


async def test_alerts_on_the_topic_before_a_take_over_are_not_produced_again() -> None:
    """A worker killed after the week's alerts reached the topic, before its close was recorded done."""
    state = LeaseClockState()
    delivery = Delivery()

    async def produced_then_killed(alerts: Sequence[Any]) -> None:
        delivery.take(alerts)
        if alerts[0].granularity == "week":
            for alert in alerts:  # as the app's emit records each alert it produced
                await state.mark_emitted(alert.dedup_key, ttl_s=EMIT_TTL_S)
            raise Killed

    async def emit(alerts: Sequence[Any]) -> None:
        delivery.take(alerts)

    first = closer_of(state, produced_then_killed)
    await feed_week(Feed(state, first))
    with pytest.raises(Killed):
        await first.advance()
    state.now += LEASE_S
    second = closer_of(state, emit)
    assert await second.advance() == 1  # the week, resumed
    assert await state.get_rule_state(CLOSER_STATE, "progress") == {"day": "2025-06-06"}
    assert keys(delivery.topic) == delivery.posts()  # each (dedup key, revision) once on the topic
    assert delivery.posts() == (await normal_run()).posts()
    assert second.emits_skipped == 2


class SlowClaims(MemoryState):
    """A MemoryState whose emit claims take a round trip's time: it counts how many are in flight at once."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = self.most = 0

    async def claim_emit(self, key: str, *, ttl_s: float) -> str:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            await asyncio.sleep(0.001)
            return await super().claim_emit(key, ttl_s=ttl_s)
        finally:
            self.in_flight -= 1


async def test_the_alerts_of_a_close_are_claimed_at_once_and_each_handed_on_once() -> None:
    state = SlowClaims()
    delivery = await normal_run(state)
    assert state.most == len(week_keys())  # the week's two alerts, claimed side by side
    assert delivery.posts() == (await normal_run()).posts()
    assert len(delivery.topic) == len(delivery.posted)
