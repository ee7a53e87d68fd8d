"""Deployment health from heartbeats: ``starting`` / ``running`` / ``degraded``.

For a deployment in ``starting``, ``running`` or ``degraded`` with open primary leases:

* every primary workload's latest reported state is ``running`` on an online node -> ``running``;
* some primary reports a failed state (``exited``, ``crashed``, ``rejected``, ``stopped``) or sits on an
  offline node -> ``degraded``;
* otherwise (some primary not reported yet, or ``starting``): ``running`` becomes ``degraded``, while
  ``starting`` and ``degraded`` stay as they are.

:func:`evaluate` runs after each heartbeat for the deployments it reported on; :func:`sweep` (scheduler job
``workloads.maintain``) catches nodes that went silent, which send no heartbeat to trigger anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.deployments import models as dm
from engine.deployments import status
from engine.workloads import models as wm
from engine.workloads.desired import workload_id
from engine.workloads.heartbeats import LivenessPolicy, node_health

WATCHED = (status.STARTING, status.RUNNING, status.DEGRADED)


def verdict(current: str, reports: list[tuple[str, str | None, bool]]) -> tuple[str, str]:
    """``(new status, reason)`` from ``(workload id, latest state or None, node online)`` per primary."""
    if reports and all(state == wm.W_RUNNING and online for _, state, online in reports):
        return status.RUNNING, "every primary replica is running"
    for wid, state, online in reports:
        if not online:
            return status.DEGRADED, f"replica {wid}: node offline"
        if state in wm.FAILED_STATES:
            return status.DEGRADED, f"replica {wid}: {state}"
    if current == status.RUNNING:
        wid = next((w for w, state, _ in reports if state != wm.W_RUNNING), "?")
        return status.DEGRADED, f"replica {wid}: not running"
    return current, ""


async def evaluate(
    session: AsyncSession, deployment_ids: Iterable[int], *, now: datetime, policy: LivenessPolicy
) -> list[int]:
    """Re-derive the health status of the given deployments; returns those that moved."""
    ids = sorted(set(deployment_ids))
    if not ids:
        return []
    deps = (
        await session.scalars(
            select(dm.Deployment).where(dm.Deployment.id.in_(ids), dm.Deployment.status.in_(WATCHED))
        )
    ).all()
    if not deps:
        return []
    leases = (
        await session.scalars(
            select(dm.Lease).where(
                dm.Lease.deployment_id.in_([d.id for d in deps]),
                dm.Lease.role == dm.PRIMARY,
                dm.Lease.status == dm.LEASE_OPEN,
            )
        )
    ).all()
    states = {
        s.lease_row_id: s.state
        for s in (
            await session.scalars(
                select(wm.WorkloadState).where(wm.WorkloadState.lease_row_id.in_([x.id for x in leases]))
            )
        ).all()
    }
    health = await node_health(session, sorted({x.node_id for x in leases}), now=now, policy=policy)
    moved = []
    for dep in deps:
        mine = [x for x in leases if x.deployment_id == dep.id]
        if not mine:
            continue
        reports = [
            (workload_id(dep.id, x.replica_index), states.get(x.id), health[x.node_id].online) for x in mine
        ]
        to, reason = verdict(dep.status, reports)
        if to != dep.status and await status.move(session, dep, to, reason):
            moved.append(dep.id)
    return moved


async def sweep(session: AsyncSession, *, now: datetime, policy: LivenessPolicy) -> list[int]:
    """Evaluate every watched deployment (nodes that went silent send nothing that would trigger it)."""
    ids = (await session.scalars(select(dm.Deployment.id).where(dm.Deployment.status.in_(WATCHED)))).all()
    return await evaluate(session, ids, now=now, policy=policy)
