"""Cancellation kept out of Redis steps: the dispatcher's loop and the sending stage run their steps through it."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

#: How long a cancelled step may still run to its end.
STOP_GRACE_S = 5.0
T = TypeVar("T")


async def guarded(step: Coroutine[Any, Any, T]) -> T:
    """Run a step that talks to Redis to its end even when the caller is cancelled, then re-raise the cancel.

    redis-py (8.x, on Python 3.11) can swallow a cancellation that lands inside a command, or hang on it;
    so cancellation reaches this code only between Redis steps.
    """
    task = asyncio.ensure_future(step)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        if not task.done():
            await asyncio.wait({task}, timeout=STOP_GRACE_S)
        raise
