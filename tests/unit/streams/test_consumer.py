"""The batching Faust consumer and stream: what an agent receives, and when messages are acknowledged."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any

import faust
import pytest
from faust.types import TP, Message

from signal_monitor.app import MonitorApp
from signal_monitor.streams.consumer import BatchStream, Consumer, ConsumerThread, Transport

TOPIC = "unit.trades"


@pytest.fixture
def app(tmp_path: Any) -> faust.App:
    app = MonitorApp("unit-consumer", broker="kafka://127.0.0.1:1", datadir=str(tmp_path), Stream=BatchStream)
    app.topics.acking_topics.add(TOPIC)
    app.flow_control.resume()  # as a running worker does once partitions are assigned
    return app


def event(app: faust.App, offset: int, *, partition: int = 0, generation: int | None = None) -> faust.Event:
    message = Message(
        TOPIC, partition, offset, 0.0, 0, {}, b"k", f"v{offset}".encode(), None,
        generation_id=app.consumer_generation_id if generation is None else generation,
    )
    message.incref()
    return faust.Event(app, b"k", message.value, {}, message)


def test_the_app_uses_the_batching_transport_and_stream(app: faust.App) -> None:
    assert isinstance(app.transport, Transport)
    assert Transport.Consumer is Consumer
    assert app.conf.Stream is BatchStream


async def test_the_fetch_wait_is_the_apps(app: MonitorApp) -> None:
    app.fetch_max_wait_ms = 37
    thread = ConsumerThread(app.consumer, loop=asyncio.get_running_loop())
    consumer = thread._create_worker_consumer(app.transport)
    assert consumer._fetch_max_wait_ms == 37


async def _next(it: Any) -> list[faust.Event]:
    return await asyncio.wait_for(it.__anext__(), timeout=5)


async def test_batches_yield_what_is_queued_and_ack_it_when_the_next_is_asked_for(app: faust.App) -> None:
    channel = app.channel()
    stream = app.stream(channel)
    it = stream.batches(3)
    first = asyncio.ensure_future(_next(it))
    await asyncio.sleep(0)  # the generator subscribes to the channel and waits
    queued = [event(app, o) for o in range(5)]
    for e in queued:
        await channel.put(e)
    batch = await first
    assert [e.message.offset for e in batch] == [0, 1, 2]  # at most max_ at a time
    assert not any(e.message.acked for e in queued)
    batch = await _next(it)
    assert [e.message.offset for e in batch] == [3, 4]  # the rest at once, without waiting for more
    assert [e.message.acked for e in queued] == [True, True, True, False, False]
    await it.aclose()
    assert not queued[3].message.acked  # leaving the loop acknowledges nothing of the batch in hand


async def test_a_batch_is_left_unacknowledged_when_its_handler_fails(app: faust.App) -> None:
    channel = app.channel()
    stream = app.stream(channel)
    queued = [event(app, o) for o in range(2)]

    async def agent() -> None:
        async for _ in stream.batches(10):
            raise RuntimeError("handler failed")

    task = asyncio.ensure_future(agent())
    await asyncio.sleep(0)
    for e in queued:
        await channel.put(e)
    with pytest.raises(RuntimeError):
        await asyncio.wait_for(task, timeout=5)
    assert not any(e.message.acked for e in queued)


async def test_events_from_before_a_rebalance_are_acknowledged_and_left_out(app: faust.App) -> None:
    channel = app.channel()
    stream = app.stream(channel)
    it = stream.batches(10)
    first = asyncio.ensure_future(_next(it))
    await asyncio.sleep(0)
    stale = event(app, 0, generation=app.consumer_generation_id - 1)
    fresh = event(app, 1)
    await channel.put(stale)
    await channel.put(fresh)
    batch = await first
    assert [e.message.offset for e in batch] == [1]
    assert stale.message.acked and not fresh.message.acked
    await it.aclose()


async def test_a_fetch_is_delivered_in_order_past_what_was_read_before() -> None:
    delivered: list[tuple[int, int]] = []

    async def callback(message: Any) -> None:
        delivered.append((message.partition, message.offset))

    gaps: list[tuple[TP, int, int]] = []

    async def add_gap(tp: TP, start: int, end: int) -> None:
        gaps.append((tp, start, end))

    tp0, tp1 = TP(TOPIC, 0), TP(TOPIC, 1)
    read_offset: dict[TP, int | None] = {tp0: 4, tp1: None}
    fake = SimpleNamespace(
        callback=callback,
        _read_offset=read_offset,
        app=SimpleNamespace(topics=SimpleNamespace(acks_enabled_for=lambda topic: True)),
        _commit_every=None,
        _add_gap=add_gap,
    )
    fetched = [
        (tp, SimpleNamespace(partition=tp.partition, offset=o, topic=TOPIC))
        for tp, o in [(tp0, 3), (tp0, 4), (tp0, 5), (tp1, 0), (tp0, 8), (tp1, 1)]
    ]
    await Consumer._deliver(fake, fetched)  # type: ignore[arg-type]
    # offset 3 was delivered before a seek back; 4 again (Faust redelivers the read offset itself)
    assert delivered == [(0, 4), (0, 5), (1, 0), (0, 8), (1, 1)]
    assert read_offset == {tp0: 8, tp1: 1}
    assert gaps == [(tp0, 6, 8)]


async def test_batches_end_when_the_agent_is_cancelled(app: faust.App) -> None:
    channel = app.channel()
    stream = app.stream(channel)
    seen: list[int] = []

    async def agent() -> None:
        async for batch in stream.batches(10):
            seen.extend(e.message.offset for e in batch)

    task = asyncio.ensure_future(agent())
    await asyncio.sleep(0)
    await channel.put(event(app, 0))
    await asyncio.sleep(0.01)
    stream.channel._throw(StopAsyncIteration())  # what Faust's actor does when it cancels an agent
    await asyncio.wait_for(task, timeout=5)  # ends, where a bare StopAsyncIteration would become a RuntimeError
    assert seen == [0]


async def test_a_fetch_waits_while_the_queues_hold_more_bytes_than_the_bound(app: MonitorApp) -> None:
    app.stream_buffer_bytes = 10
    consumer = app.consumer
    assert isinstance(consumer, Consumer)
    channel = app.channel()
    stream = app.stream(channel)
    it = stream.batches(1)
    first = asyncio.ensure_future(_next(it))
    await asyncio.sleep(0.01)
    assert len(consumer.batch_queues) == 1  # the stream's queue counts towards the bound
    for o in range(4):
        await channel.put(event(app, o))  # 4 values of 2 bytes; the first is taken at once
    await first
    assert consumer.queued_bytes() == 6
    delivered: list[int] = []

    async def callback(message: Any) -> None:
        delivered.append(message.offset)

    consumer.callback = callback  # type: ignore[method-assign]
    message = SimpleNamespace(offset=9, topic=TOPIC, partition=0, value=b"xx")
    app.stream_buffer_bytes = 5
    deliver = asyncio.ensure_future(consumer._deliver([(TP(TOPIC, 0), message)]))
    await asyncio.sleep(0.05)
    assert delivered == []  # 6 bytes queued > 5: held back
    await _next(it)  # the agent takes one more (2 bytes): 4 <= 5
    await asyncio.wait_for(deliver, timeout=5)
    assert delivered == [9]
    await it.aclose()


def test_the_broker_watch_says_once_when_the_broker_went_away_and_once_when_it_is_back() -> None:
    from signal_monitor.streams.consumer import BrokerWatch

    watch = BrokerWatch(away_s=2.0)
    assert watch.observe(True, 0.0) is None
    assert watch.observe(False, 1.0) is None  # a moment without a connection is not news
    level, line = watch.observe(False, 3.5) or (0, "")
    assert level == logging.WARNING and line.startswith("Kafka broker unavailable: no connection for 2.5 s")
    assert watch.observe(False, 4.5) is None  # said once
    level, line = watch.observe(True, 9.0) or (0, "")
    assert level == logging.INFO and line == "Kafka broker available again after 8.0 s: consuming resumes"
    assert watch.observe(True, 10.0) is None
    assert watch.observe(False, 11.0) is None
    assert watch.observe(True, 12.0) is None  # back within away_s: nothing was said, nothing to take back


def test_the_consumer_reports_a_connection_only_once_its_client_has_one(app: faust.App) -> None:
    consumer = app.consumer
    assert consumer.broker_connected()  # not started: nothing to say
    conn = SimpleNamespace(connected=lambda: False)
    consumer._thread._consumer = SimpleNamespace(_client=SimpleNamespace(_conns={(1, 0): conn}))
    assert not consumer.broker_connected()
    conn.connected = lambda: True
    assert consumer.broker_connected()
