"""The ``workloads.maintain`` scheduler job: health sweep (nodes gone silent -> ``degraded``) and pruning
of expired usage samples and uptime minutes; status changes are published after the commit."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from engine.notify import Hub
from engine.workloads import health
from engine.workloads.heartbeats import LivenessPolicy, prune, utcnow
from engine.workloads.wakeups import publish_noted


async def maintain(
    sessionmaker: async_sessionmaker[AsyncSession], hub: Hub | None, policy: LivenessPolicy
) -> dict[str, int]:
    now = utcnow()
    async with sessionmaker() as session:
        async with session.begin():
            moved = await health.sweep(session, now=now, policy=policy)
            samples, minutes = await prune(session, now=now, policy=policy)
        await publish_noted(hub, session)
    return {"moved": len(moved), "samples_pruned": samples, "minutes_pruned": minutes}
