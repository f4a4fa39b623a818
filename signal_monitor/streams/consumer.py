"""Faust's Kafka consumer and streams, tuned for a worker that applies messages in batches.

Faust hands messages to agents one at a time: per message its consumer waits on
two futures (the delivery and the "flow suspended" signal), and per message a
stream runs its processors, sets context variables and calls the sensors. For
an agent that takes whole batches that path costs more than the agent's own
work. Three changes keep Faust's consumer, conductor, acks, commits and
rebalancing, and take the per-message waits out:

* :class:`Consumer` delivers everything one fetch returned inside a single wait
  (a rebalance still interrupts it, exactly as it interrupts one message);
* :class:`ConsumerThread` lets the worker choose how long the broker may hold a
  fetch on a quiet partition (Faust fixes it at 1.5 s, which is then the floor
  of every alert's latency);
* :meth:`BatchStream.batches` yields what is queued for the agent as one list,
  as soon as there is anything — no timer, no buffer processor — and
  acknowledges each message after the batch has been handled;
* the consumer holds a fetch back while the batch streams' queues hold more than
  ``app.stream_buffer_bytes`` of message values: Faust bounds a queue in
  messages only, and 500 envelopes of 500 events are ~75 MB;
* :class:`BrokerWatch` says in the log when the consumer has lost every broker
  connection, and when it has one again (aiokafka logs each failed reconnect).

:class:`Transport` puts the consumer into a Faust app (see
:func:`signal_monitor.app.create_app`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncIterator
from weakref import WeakSet
from typing import Any, cast

import aiokafka
import faust
from faust.streams import _current_event
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, EventT, Message
from mode import Service

log = logging.getLogger(__name__)

#: The broker's long-poll on a quiet partition when the app does not say otherwise, in milliseconds.
DEFAULT_FETCH_MAX_WAIT_MS = 100
#: Messages delivered to the streams between two yields to the event loop.
YIELD_EVERY = 500
#: How often a consumer held back by full queues looks again, in seconds.
ROOM_POLL_S = 0.002
#: How long the consumer may be without a broker connection before the worker logs that it paused, in seconds.
BROKER_AWAY_S = 2.0


class BrokerWatch:
    """Tell when the consumer has had no broker connection for ``away_s``, and when it has one again.

    While the broker is away, aiokafka logs each failed reconnect ("Unable connect to node …",
    about ten a second) and nothing once it is connected again. The worker meanwhile fetches
    and commits nothing, and its producer holds what it sends until the broker takes it. The
    watch turns that into one line each way.
    """

    def __init__(self, *, away_s: float = BROKER_AWAY_S) -> None:
        self.away_s = away_s
        self._lost_at: float | None = None
        self._reported = False

    def observe(self, connected: bool, now: float) -> tuple[int, str] | None:
        """Note whether the consumer is connected at ``now``; return the (level, line) to log when that is news."""
        if connected:
            lost_at, reported = self._lost_at, self._reported
            self._lost_at, self._reported = None, False
            if lost_at is None or not reported:
                return None
            return logging.INFO, f"Kafka broker available again after {now - lost_at:.1f} s: consuming resumes"
        if self._lost_at is None:
            self._lost_at = now
        if self._reported or now - self._lost_at < self.away_s:
            return None
        self._reported = True
        return logging.WARNING, (
            f"Kafka broker unavailable: no connection for {now - self._lost_at:.1f} s; consuming paused "
            "(nothing fetched or committed), alerts and dead letters wait to be produced; reconnecting"
        )


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's aiokafka consumer thread with the fetch wait taken from the app (``app.fetch_max_wait_ms``)."""

    def _create_worker_consumer(self, transport: faust_aiokafka.Transport) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # read by the fetcher the consumer creates when it starts
        consumer._fetch_max_wait_ms = int(getattr(self.app, "fetch_max_wait_ms", DEFAULT_FETCH_MAX_WAIT_MS))
        return consumer


class Consumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer, delivering each fetch to the streams under one wait."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: The queues :meth:`BatchStream.batches` reads, whose bytes bound what is delivered.
        self.batch_queues: WeakSet[Any] = WeakSet()
        self.broker_watch = BrokerWatch()

    def broker_connected(self) -> bool:
        """Whether the aiokafka client holds an open connection to a broker (True before it has started)."""
        client = getattr(getattr(self._thread, "_consumer", None), "_client", None)
        if client is None:
            return True
        return any(conn.connected() for conn in list(client._conns.values()))

    @Service.timer(1.0)
    async def _watch_broker(self) -> None:
        """Log when the broker went away and when it is back (see :class:`BrokerWatch`)."""
        news = self.broker_watch.observe(self.broker_connected(), time.monotonic())
        if news is not None:
            log.log(*news)

    def queued_bytes(self) -> int:
        """Return the bytes of the message values waiting in the batch streams' queues."""
        return sum(len(event.message.value or b"") for queue in list(self.batch_queues) for event in list(queue._queue))

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - runs inside a live worker
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        set_flag = self.diag.set_flag
        unset_flag = self.diag.unset_flag
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(CONSUMER_FETCHING)
                fetched: list[tuple[TP, Message]] = [item async for item in self.getmany(timeout=1.0)]
                # getmany can return at once many times in a row: let the streams run
                await self.sleep(0)
                if fetched and not self.should_stop:
                    # one wait for the whole fetch: a rebalance (suspend_flow) still cuts it short,
                    # and what was not delivered is fetched again from the committed offsets
                    await self.wait_first(self._deliver(fetched), self.suspend_flow.wait())
                unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(CONSUMER_FETCHING)

    async def _deliver(self, fetched: list[tuple[TP, Message]]) -> None:
        """Hand fetched messages to the conductor in order, as Faust's drain loop does one by one."""
        limit = getattr(self.app, "stream_buffer_bytes", 0)
        if limit:
            while self.queued_bytes() > limit:
                await asyncio.sleep(ROOM_POLL_S)
        callback = self.callback
        read_offset = self._read_offset
        acks_enabled_for = self.app.topics.acks_enabled_for
        commit_every = self._commit_every
        since_yield = 0
        for tp, message in fetched:
            since_yield += 1
            if since_yield >= YIELD_EVERY:
                await asyncio.sleep(0)
                since_yield = 0
            offset = message.offset
            r_offset = read_offset[tp]
            if r_offset is not None and offset < r_offset:
                continue  # already delivered before a seek back
            if r_offset and offset - r_offset > 1 and acks_enabled_for(message.topic):
                await self._add_gap(tp, r_offset + 1, offset)
            if commit_every is not None and self._n_acked >= commit_every:
                self._n_acked = 0
                await self.commit()
            await callback(message)
            read_offset[tp] = offset


class Transport(faust_aiokafka.Transport):
    """Faust's aiokafka transport with :class:`Consumer`."""

    Consumer = Consumer


class BatchStream(faust.Stream):
    """A Faust stream that can also be read as batches of events (:meth:`batches`)."""

    async def batches(self, max_: int) -> AsyncIterator[list[EventT]]:
        """Yield the events queued for this stream, up to ``max_`` at a time, as soon as one is there.

        Each event of a batch is acknowledged when the consumer of the batch asks
        for the next one; leaving the loop (an exception, a cancel) acknowledges
        nothing of the batch in hand, so a restart reads it again. Events from
        before a rebalance, or read while flow control is off, are acknowledged
        and left out, as Faust's own stream iteration does. The sensors hear of
        every message (``on_message_in``/``on_message_out``), but not of every
        stream event: Faust's monitor looks each one up in weak dictionaries, a
        tenth of a worker's time with one event per message; the worker's own
        metrics count events and time batches.
        """
        channel = aiter(self.channel)
        queue = cast(Any, channel).queue
        app = self.app
        consumer = app.consumer
        if isinstance(consumer, Consumer):
            consumer.batch_queues.add(queue)
        flow_active = app.flow_control.is_active
        add_unacked = consumer.unacked.add
        acking_topics = app.topics.acking_topics
        on_message_in = self._on_message_in
        on_message_out = self._on_message_out
        try:
            while not self.should_stop:
                batch: list[EventT] = []
                skipped: list[EventT] = []
                try:
                    item = await queue.get()
                except StopAsyncIteration:  # the channel was closed: the stream is stopping
                    return
                while True:
                    event = cast(EventT, item)
                    message = event.message
                    if not flow_active() or message.generation_id != app.consumer_generation_id:
                        skipped.append(event)
                    else:
                        if message.topic in acking_topics and not message.tracked:
                            message.tracked = True
                            add_unacked(message)
                            on_message_in(message.tp, message.offset, message)
                        batch.append(event)
                    if len(batch) >= max_ or queue.empty():
                        break
                    item = queue.get_nowait()
                for event in skipped:
                    _ack(event, on_message_out)
                if not batch:
                    continue
                self.events_total += len(batch)
                self.current_event = batch[-1]
                _current_event.set(weakref.ref(batch[-1]))
                yield batch
                for event in batch:
                    _ack(event, on_message_out)
                self.current_event = None
        finally:
            self._channel_stop_iteration(channel)


def _ack(event: EventT, on_message_out: Any) -> None:
    message = event.message
    if event.ack():  # the last stream holding the message let go of it
        on_message_out(message.tp, message.offset, message)
