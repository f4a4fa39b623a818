"""together(): results in order; the first error itself, with nothing left running."""

from __future__ import annotations

import asyncio

import pytest

from signal_monitor.tasks import together


async def test_the_results_come_in_the_order_of_the_calls_not_of_their_ends() -> None:
    async def after(delay: float, value: str) -> str:
        await asyncio.sleep(delay)
        return value

    assert await together(after(0.02, "a"), after(0.0, "b"), after(0.01, "c")) == ["a", "b", "c"]


async def test_the_first_error_is_raised_itself_and_the_others_are_stopped_first() -> None:
    stopped: list[str] = []

    async def slow(name: str) -> None:
        try:
            await asyncio.sleep(10)
        finally:
            stopped.append(name)

    async def failing() -> None:
        await asyncio.sleep(0)
        raise ConnectionError("gone")

    with pytest.raises(ConnectionError, match="gone"):
        await together(slow("x"), failing(), slow("y"))
    assert sorted(stopped) == ["x", "y"]
