"""The services a benchmark run starts for itself: the embedded broker and a private redis-server.

The broker is Apache Kafka (one KRaft node from the Maven jars) when Java is here, else Tansu
(memory storage); ``SM_EMBEDDED_BROKER=kafka|tansu`` chooses
(:func:`signal_monitor.embedded.default_broker_kind`). Its ``label`` ("apache-kafka 4.1.1")
goes into the report. A private Redis keeps the figures free of other users' load on a shared one;
every key is still written under ``smbench:<run>`` and deleted after each run.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from types import TracebackType
from typing import Self

from bench.workload import TradeGenerator, create_topics, produce_sync
from signal_monitor.embedded import BrokerKind, EmbeddedRedis, default_broker_kind, embedded_broker
from signal_monitor.streams.topics import INPUTS, OUTPUTS


class Services:
    """A broker and a Redis of one benchmark run; a context manager."""

    def __init__(self, workdir: Path, *, broker: BrokerKind | None = None) -> None:
        self.workdir = workdir
        self.broker_kind: BrokerKind = broker or default_broker_kind()
        # Kafka gets a 1 GiB heap: the bench reads and writes a few hundred MB through it
        options = {"heap": "1g"} if self.broker_kind == "kafka" else {}
        # absolute: EmbeddedKafka runs java in its workdir and hands it server.properties by this path
        self.broker = embedded_broker(self.broker_kind, workdir.resolve() / "broker", **options)
        self.redis = EmbeddedRedis(workdir / "redis")

    def __enter__(self) -> Self:
        self.broker.start()
        try:
            self.redis.start()
        except BaseException:
            self.broker.stop()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.redis.stop()
        self.broker.stop()

    @property
    def bootstrap(self) -> str:
        """The broker's ``host:port``."""
        return self.broker.bootstrap

    @property
    def broker_label(self) -> str:
        """The broker as the report names it: ``apache-kafka <version>`` or ``tansu <version>``."""
        return self.broker.label

    @property
    def redis_url(self) -> str:
        """The private Redis URL."""
        return self.redis.url

    def new_topics(self, *, partitions: int = 4) -> str:
        """Create the monitor's topics under a new prefix; return the prefix."""
        prefix = f"smb{uuid.uuid4().hex[:8]}"
        create_topics(
            self.bootstrap,
            [(f"{prefix}.{kind}", partitions) for kind in INPUTS] + [(f"{prefix}.{kind}", 1) for kind in OUTPUTS],
        )
        return prefix

    def produce_trades(self, topic: str, events: int, *, envelope: int = 1, partitions: int = 4, seed: int = 7) -> int:
        """Produce ``events`` trades to ``topic`` (one per message, or envelopes); return the number of messages."""
        n, _ = produce_sync(self.bootstrap, topic, TradeGenerator(events, seed=seed).messages(envelope=envelope), partitions=partitions)
        return n
