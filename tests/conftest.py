"""Shared fixtures: an embedded Apache Kafka broker (and a Tansu one), the shared Redis with per-test key prefixes, a private Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from signal_monitor.embedded import EmbeddedKafka, EmbeddedRedis, EmbeddedTansu
from signal_monitor.state.connect import redis_answers

SHARED_REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedKafka]:
    """One embedded Apache Kafka broker (KRaft, one node) for the whole session.

    The broker the desk runs: tests where the broker matters use it through ``broker``. It needs Java
    17 and the jars ``make test`` fetches; without them the tests that use it fail, they do not skip.
    """
    with EmbeddedKafka(tmp_path_factory.mktemp("kafka")) as server:
        yield server


@pytest.fixture(scope="session")
def broker(kafka_broker: EmbeddedKafka) -> str:
    """The session's Apache Kafka broker; yields its bootstrap ``127.0.0.1:PORT``.

    Topics live for the session: give each test its own topic names (e.g. from ``key_prefix``).
    """
    return kafka_broker.bootstrap


@pytest.fixture(scope="session")
def tansu_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One embedded Tansu broker (memory storage) for the session, the no-Java broker of ``make demo``."""
    with EmbeddedTansu(tmp_path_factory.mktemp("tansu")) as server:
        yield server.bootstrap


@pytest.fixture(scope="session")
def _shared_redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The shared Redis at 127.0.0.1:6379 (started by CI); off CI, a session-wide embedded one instead."""
    if redis_answers(SHARED_REDIS_URL):
        yield SHARED_REDIS_URL
        return
    with EmbeddedRedis(tmp_path_factory.mktemp("shared-redis")) as server:
        yield server.url


@pytest.fixture
def key_prefix() -> str:
    """A Redis key prefix unique to this test, ``smtest:<8 hex digits>``."""
    return f"smtest:{uuid.uuid4().hex[:8]}"


def delete_keys(url: str, prefix: str) -> int:
    """Delete every key of ``url`` that starts with ``prefix`` (SCAN + UNLINK; never FLUSHDB); return the count."""
    client = redis.Redis.from_url(url)
    deleted = 0
    try:
        batch: list[bytes] = []
        for key in client.scan_iter(match=f"{_glob_escape(prefix)}*", count=1000):
            batch.append(key)
            if len(batch) >= 500:
                deleted += client.unlink(*batch)
                batch.clear()
        if batch:
            deleted += client.unlink(*batch)
    finally:
        client.close()
    return deleted


def _glob_escape(text: str) -> str:
    return "".join(f"\\{ch}" if ch in "*?[]\\^-" else ch for ch in text)


@pytest.fixture
def redis_url(_shared_redis_url: str, key_prefix: str) -> Iterator[str]:
    """The shared Redis URL; on teardown every key starting with ``key_prefix`` is deleted.

    Other users share this Redis: only write keys under ``key_prefix``, never FLUSHDB.
    """
    yield _shared_redis_url
    delete_keys(_shared_redis_url, key_prefix)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A private redis-server with AOF (fsync always) in ``tmp_path``, for tests that stop or restart Redis."""
    with EmbeddedRedis(tmp_path / "own-redis", appendonly=True, appendfsync="always") as server:
        yield server
