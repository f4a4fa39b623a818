"""retry_transient and is_transient: which store errors are waited out, and how."""

from __future__ import annotations

import logging
import types

import pytest
from redis import exceptions as redis_exceptions
from redis.exceptions import (
    BusyLoadingError,
    ClusterDownError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisClusterException,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from signal_monitor.state import retry as retry_mod
from signal_monitor.state.retry import is_transient, retry_transient


@pytest.mark.parametrize(
    "error",
    [
        RedisConnectionError("Connection refused"),
        RedisTimeoutError("Timeout reading from socket"),
        ClusterDownError("CLUSTERDOWN The cluster is down"),
        TryAgainError("TRYAGAIN"),
        ConnectionRefusedError(111, "Connection refused"),
        BusyLoadingError("loading"),
        ReadOnlyError("You can't write against a read only replica."),
        OutOfMemoryError("command not allowed when used memory > 'maxmemory'."),
        ResponseError("OOM command not allowed when used memory > 'maxmemory'."),
        RedisClusterException("Redis Cluster cannot be connected. Please provide at least one reachable node"),
        *(
            [redis_exceptions.RedisClusterUnreachableError("Redis Cluster cannot be connected.")]
            if hasattr(redis_exceptions, "RedisClusterUnreachableError")
            else []
        ),
    ],
)
def test_an_unreachable_or_refusing_store_is_transient(error: Exception) -> None:
    assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        ResponseError("ERR Error running script: attempt to compare nil with number"),
        RedisClusterException("Keys in request don't hash to the same slot"),
        ValueError("a bug"),
    ],
)
def test_other_errors_are_not_transient(error: Exception) -> None:
    assert not is_transient(error)


async def test_a_transient_error_is_retried_with_growing_pauses_logged_by_the_caller(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    waits: list[float] = []

    async def no_wait(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(retry_mod, "asyncio", types.SimpleNamespace(sleep=no_wait))
    calls = {"n": 0, "retries": 0}

    async def flaky() -> str:
        calls["n"] += 1
        if calls["n"] <= 4:
            raise RedisConnectionError("Connection refused")
        return "done"

    def counted() -> None:
        calls["retries"] += 1

    caller = logging.getLogger("signal_monitor.tests.caller")
    with caplog.at_level(logging.WARNING, logger=caller.name):
        assert await retry_transient(flaky, "read offsets", max_s=1.5, on_retry=counted, logger=caller) == "done"
    assert calls == {"n": 5, "retries": 4}
    # 0.5, 1, then capped at max_s, each +-20 % jitter
    assert len(waits) == 4
    assert all(0.8 * base <= w <= 1.2 * base for w, base in zip(waits, (0.5, 1.0, 1.5, 1.5)))
    lines = [r for r in caplog.records if r.name == caller.name]
    assert len(lines) == 4
    assert "Redis unavailable while trying to read offsets" in lines[0].getMessage()
    assert "retry 4 in" in lines[-1].getMessage()


async def test_any_other_error_is_raised_at_once_without_a_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    async def never(_: float) -> None:
        raise AssertionError("must not pause")

    monkeypatch.setattr(retry_mod, "asyncio", types.SimpleNamespace(sleep=never))
    calls = {"n": 0}

    async def broken() -> None:
        calls["n"] += 1
        raise ResponseError("ERR unknown command")

    with pytest.raises(ResponseError, match="unknown command"):
        await retry_transient(broken, "apply a batch", max_s=30.0)
    assert calls["n"] == 1
