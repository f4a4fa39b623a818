"""A prototype of proposal 1: the input topics read by one aiokafka consumer in batches, outside Faust's streams.

Faust's stream path costs every message a conductor dispatch, a queue hop, an
``Event``, a processor call and an ack, which makes a Faust agent that only
counts slower than the monitor's whole per-event work. This service keeps
everything else of the worker (the Faust app, its producer for dead letters and
alerts, the period-closing timer, the ``Ingestor`` and the ``PeriodCloser``) and
replaces the four ingest agents with a ``getmany`` loop:

* one ``AIOKafkaConsumer`` in the group ``<app id>-ingest`` subscribed to the input
  topics; on assignment each partition seeks to the store's offset + 1, exactly
  as ``seek_to_store`` does, and registers a backlog with the closer;
* each ``getmany`` (up to ``SM_BATCH_MAX`` records, waiting at most
  ``SM_BATCH_WITHIN_S``) goes to ``Ingestor.handle`` per topic, then the closer
  advances; exactly-once still comes from the Lua apply and the stored offsets;
  Kafka offsets are committed after the batch for lag monitoring only;
* a rebalance waits for the batch in flight (a lock), since ``Ingestor.forget``
  drops the cached mark that ``Ingestor._apply`` reads back after its ``await``.

:mod:`bench.variant` patches it into a real ``signal-monitor worker`` subprocess
(``--direct-consumer``) so the bench measures the gain end to end.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from mode import Service

from signal_monitor.agents.ingest import Record

log = logging.getLogger("bench.direct")


class DirectIngest(Service):
    """Reads the input topics with one aiokafka consumer and applies them through the ingestors."""

    def __init__(self, app: Any, settings: Any, closer: Any, **kwargs: Any) -> None:
        self.app = app
        self.settings = settings
        self.closer = closer
        self.ingestors: dict[str, Any] = {}
        self.consumer: Any = None
        self.busy = asyncio.Lock()  # a rebalance waits for the batch in flight (it forgets cached marks)
        super().__init__(**kwargs)

    def add(self, topic: str, ingestor: Any) -> None:
        """Read ``topic`` through ``ingestor``."""
        self.ingestors[topic] = ingestor

    async def on_start(self) -> None:
        """Create the consumer, subscribe with the seek-to-store listener, start it."""
        from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

        service = self

        class SeekToStore(ConsumerRebalanceListener):  # type: ignore[misc]
            async def on_partitions_revoked(self, revoked: Any) -> None:
                async with service.busy:
                    for tp in revoked:
                        service.ingestors[tp.topic].forget([tp.partition])

            async def on_partitions_assigned(self, assigned: Any) -> None:
                async with service.busy:
                    await self._assigned(assigned)

            async def _assigned(self, assigned: Any) -> None:
                tps = [tp for tp in assigned if tp.topic in service.ingestors]
                ends = await service.consumer.end_offsets(tps) if tps else {}
                for tp in tps:
                    ingestor = service.ingestors[tp.topic]
                    ingestor.forget([tp.partition])
                    stored = await ingestor.stored_offset(tp.partition)
                    if ends.get(tp, 0) > stored + 1:
                        await ingestor.state.register(tp.topic, tp.partition, highwater=ends[tp])
                    if stored >= 0:
                        service.consumer.seek(tp, stored + 1)

        s = self.settings
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=s.kafka_bootstrap.split(","),
            group_id=f"{s.app_id}-ingest",
            client_id=f"{s.app_id}-ingest",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=s.batch_max,
            session_timeout_ms=int(s.kafka_session_timeout_s * 1000),
            rebalance_timeout_ms=int(s.kafka_rebalance_timeout_s * 1000),
            heartbeat_interval_ms=int(min(3.0, s.kafka_session_timeout_s / 4) * 1000),
            fetch_max_wait_ms=int(min(0.5, s.batch_within_s) * 1000),
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        for topic, ingestor in self.ingestors.items():
            ingestor.highwater = lambda p, t=topic: self._highwater(TopicPartition(t, p))
        self.consumer.subscribe(list(self.ingestors), listener=SeekToStore())
        await self.consumer.start()

    def _highwater(self, tp: Any) -> int:
        hw = self.consumer.highwater(tp)
        return -1 if hw is None else int(hw)

    async def on_stop(self) -> None:
        """Stop the consumer (leaves the group)."""
        if self.consumer is not None:
            await self.consumer.stop()

    @Service.task
    async def _ingest(self) -> None:
        timeout_ms = int(self.settings.batch_within_s * 1000)
        while not self.should_stop:
            batches = await self.consumer.getmany(timeout_ms=timeout_ms, max_records=self.settings.batch_max)
            if not batches:
                continue
            try:
                async with self.busy:
                    for tp, messages in batches.items():
                        await self.ingestors[tp.topic].handle([Record(m.partition, m.offset, m.value) for m in messages])
                await self.closer.advance()
            except Exception as exc:  # like CrashingSupervisor: stop the worker, a restart resumes after the store
                log.exception("ingest failed; stopping the worker")
                await self.crash(exc)
                return
            try:  # for lag monitoring only: correctness comes from the offsets stored in Redis
                await self.consumer.commit({tp: messages[-1].offset + 1 for tp, messages in batches.items()})
            except Exception as exc:  # e.g. partitions revoked meanwhile; the next batch commits again
                log.info("offset commit skipped: %s", exc)


def install() -> None:
    """Patch ``signal_monitor.app._add_agent`` so ``create_app`` wires a DirectIngest service instead of agents."""
    import signal_monitor.app as app_module

    services: dict[int, DirectIngest] = {}

    def add_direct(app: Any, topic: Any, ingestor: Any, closer: Any, settings: Any) -> None:
        service = services.get(id(app))
        if service is None:
            service = services[id(app)] = DirectIngest(app, settings, closer)
            app.service(service)
            # Faust's own consumer needs one subscription: the (small, compacted) status topic, drained
            status = app.topic(settings.topic("status"), key_type=bytes, value_type=bytes, key_serializer="raw",
                               value_serializer="raw")

            async def drain_status(stream: Any) -> None:
                async for _ in stream:
                    pass

            app.agent(status, name=f"{settings.app_id}.status-drain")(drain_status)
        service.add(topic.get_topic_name(), ingestor)

    app_module._add_agent = add_direct  # type: ignore[assignment]
