"""The services a benchmark run starts for itself: the embedded broker (Tansu) and a private redis-server.

A private Redis keeps the figures free of other users' load on a shared one;
every key is still written under ``smbench:<run>`` and deleted after each run.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from types import TracebackType
from typing import Self

from bench.workload import TradeGenerator, create_topics, produce_sync
from signal_monitor.embedded import EmbeddedRedis, EmbeddedTansu
from signal_monitor.streams.topics import INPUTS, OUTPUTS


class Services:
    """A broker and a Redis of one benchmark run; a context manager."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.broker = EmbeddedTansu(workdir / "broker")
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
