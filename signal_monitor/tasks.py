"""Awaiting several calls at once, the way a loop over them would fail: with the first error, nothing left running."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any


async def together(*calls: Awaitable[Any]) -> list[Any]:
    """Await ``calls`` at once and return their results in order.

    On the first error the others are cancelled and waited for, and that error is raised
    itself (the store's retry recognises an outage; an ``ExceptionGroup`` it would not).
    """
    tasks = [asyncio.ensure_future(call) for call in calls]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
