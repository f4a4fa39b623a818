"""Waiting out a store that does not answer: which Redis errors are transient, and the retry loop around them.

The ingestor and the period closer run every call to the store through
:func:`retry_transient`: while Redis is unreachable (or refusing writes for a
while: loading, read-only, at maxmemory) the call is paused and retried with
backoff, one log line per attempt; any other error is raised as it is.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

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

log = logging.getLogger(__name__)

#: What redis-py (8.2 and later) raises when no node of a cluster answers; earlier versions raise the bare
#: ``RedisClusterException`` with the same message (see ``is_transient``).
_CLUSTER_UNREACHABLE: tuple[type[BaseException], ...] = tuple(
    error for error in (getattr(redis_exceptions, "RedisClusterUnreachableError", None),) if error is not None
)

#: Errors that mean "the store is unreachable right now": pause and retry.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    ClusterDownError,  # a cluster without a quorum of masters, or failing over
    TryAgainError,  # a slot being migrated
    ConnectionError,
    OSError,
    *_CLUSTER_UNREACHABLE,
)


def is_transient(exc: BaseException) -> bool:
    """Return whether ``exc`` means the store is unreachable for now, a cluster with no node answering included."""
    if isinstance(exc, TRANSIENT_ERRORS + (BusyLoadingError, ReadOnlyError)):
        return True
    if isinstance(exc, OutOfMemoryError) or (isinstance(exc, ResponseError) and str(exc).startswith("OOM")):
        return True  # Redis refuses writes at maxmemory: wait for room, as for an outage
    # redis-py before 8.2 raises the bare RedisClusterException when no node of a cluster answers
    return type(exc) is RedisClusterException and "cannot be connected" in str(exc)


T = TypeVar("T")


async def retry_transient(
    call: Callable[[], Awaitable[T]],
    what: str,
    *,
    max_s: float,
    on_retry: Callable[[], None] | None = None,
    logger: logging.Logger = log,
) -> T:
    """Run ``call`` until it returns, pausing while Redis is unreachable (:func:`is_transient`); other errors raise.

    The pauses grow from 0.5 s to ``max_s``, with jitter, and each one is logged.
    """
    delay = 0.5
    attempt = 0
    while True:
        try:
            return await call()
        except Exception as exc:
            if not is_transient(exc):
                raise
            attempt += 1
            if on_retry is not None:
                on_retry()
            wait = min(max_s, delay) * (0.8 + 0.4 * random.random())
            logger.warning(
                "Redis unavailable while trying to %s (%s: %s); paused, retry %d in %.1f s",
                what, type(exc).__name__, exc, attempt, wait,
            )
            await asyncio.sleep(wait)
            delay = min(max_s, delay * 2)
