"""Workloads commands: what the server side of the node-agent protocol does (``api.routes.workloads``).

* :func:`node_desired_state` — one read of a node's desired state (the long-poll's read step).
* :func:`record_node_heartbeat` — record a heartbeat, re-derive the health of the deployments it reported
  on, commit, then publish the wake-ups noted in the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.context import Context
from engine.workloads import health
from engine.workloads.desired import DesiredState, desired_state
from engine.workloads.heartbeats import HeartbeatResult, LivenessPolicy, record_heartbeat, utcnow
from engine.workloads.wakeups import publish_noted


@dataclass(frozen=True)
class HeartbeatRecorded:
    result: HeartbeatResult
    server_time: datetime
    heartbeat_interval: int  # seconds the agent should wait before its next heartbeat


async def node_desired_state(ctx: Context, node_id: int) -> DesiredState:
    """The workloads node ``node_id`` must run, with their cursor. Raises no error of ours."""
    async with ctx.sessionmaker() as session:
        return await desired_state(session, node_id)


async def record_node_heartbeat(ctx: Context, node_id: int, body: Mapping[str, Any]) -> HeartbeatRecorded:
    """Record the heartbeat ``body`` (already validated against the API schema) of node ``node_id``.

    Raises :class:`~engine.workloads.errors.BadHeartbeat` (``bad_heartbeat``, 400; nothing is recorded).
    """
    policy = LivenessPolicy.from_settings(ctx.settings)
    now = utcnow()
    async with ctx.sessionmaker() as session:
        async with session.begin():
            result = await record_heartbeat(session, node_id, body, now=now, policy=policy)
            await health.evaluate(session, result.deployments, now=now, policy=policy)
        await publish_noted(ctx.hub, session)
    return HeartbeatRecorded(result=result, server_time=now, heartbeat_interval=policy.heartbeat_interval)
