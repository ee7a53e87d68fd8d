"""Scheduler test helpers: run an elector or a scheduler service in the background, wait for a condition."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from engine.scheduler import LeaderElector

# Generous: only a safety net against hangs, never a timing assertion.
WAIT = 30.0


async def eventually(cond: Callable[[], bool], *, what: str = "condition") -> None:
    """Yield to the loop until ``cond()`` holds (fails after :data:`WAIT` seconds)."""
    try:
        async with asyncio.timeout(WAIT):
            while not cond():  # noqa: ASYNC110 -- polls state that has no event to wait on
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"never happened: {what}") from None


@asynccontextmanager
async def campaigning(elector: LeaderElector) -> AsyncIterator[asyncio.Task[None]]:
    """The elector's loop in a task; stopped (lock released) on exit."""
    stop = asyncio.Event()
    task = asyncio.create_task(elector.run(stop))
    try:
        yield task
    finally:
        stop.set()
        await task
