"""Small helpers shared by the payments API tests (drive the outbox, count rows)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from engine.runtime import Runtime


async def drain_outbox(runtime: Runtime, passes: int = 50) -> None:
    """Run sender passes until nothing changes and nothing is in flight (eth-tester mines at once)."""
    for _ in range(passes):
        progress = await runtime.sender.run_once()
        if not progress and progress.in_flight == 0:
            return
    raise AssertionError("outbox did not drain")


async def count(runtime: Runtime, model: Any, *where: Any) -> int:
    async with runtime.sessionmaker() as s:
        return int((await s.execute(select(func.count()).select_from(model).where(*where))).scalar_one())
