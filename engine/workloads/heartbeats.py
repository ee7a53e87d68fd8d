"""Recording heartbeats; node liveness and uptime for placement; bounded retention.

Liveness: a node is *online* when its last heartbeat is at most ``offline_after`` seconds old (wall
clock of the database rows, never chain time). A node that never sent a heartbeat is offline.

Uptime (basis points): over the window ``[now - uptime_window, now)`` clipped to start at the node's
first heartbeat, ``uptime_bps = 10_000 * up_minutes // expected_minutes`` where a minute is *up* when at
least one heartbeat arrived in it and ``expected_minutes`` counts the minutes of the clipped window
(the current minute included). A node with no heartbeat history has ``uptime_bps = 0``. Rounded down
(in the user's favour), capped at 10 000.

Retention: usage samples older than ``usage_retention`` and uptime minutes older than ``uptime_window``
are deleted for the reporting node on each heartbeat, and for every node by :func:`prune` (the
``workloads.maintain`` scheduler job), so storage stays bounded per node and per workload.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from engine.deployments import models as dm
from engine.operator import services as operator
from engine.workloads import models as wm
from engine.workloads.desired import workload_id as make_workload_id
from engine.workloads.errors import BadHeartbeat

BPS = 10_000


@dataclass(frozen=True)
class LivenessPolicy:
    offline_after: int = 60  # seconds without a heartbeat before a node is offline
    uptime_window: int = 24 * 3600
    usage_retention: int = 6 * 3600
    heartbeat_interval: int = 15
    # built from settings: the operator's ``node_offline_after`` (engine.operator) wins over
    # ``offline_after`` (the environment default), read when liveness is judged (:meth:`resolved`)
    follow_operator: bool = False

    @classmethod
    def from_settings(cls, settings: Any) -> LivenessPolicy:
        """The environment's values (``CLOUDMARKET_NODE_*``); ``offline_after`` follows the operator's
        ``node_offline_after`` setting once one is stored."""
        return cls(
            offline_after=int(settings.node_offline_after),
            uptime_window=int(settings.node_uptime_window),
            usage_retention=int(settings.node_usage_retention),
            heartbeat_interval=int(settings.node_heartbeat_interval),
            follow_operator=True,
        )

    async def resolved(self, session: AsyncSession) -> LivenessPolicy:
        """This policy with ``offline_after`` set to the operator's current ``node_offline_after``
        (``self.offline_after`` when the operator stored no settings, or for a policy not built by
        :meth:`from_settings`)."""
        if not self.follow_operator:
            return self
        version = await operator.current(session, operator.SETTINGS)
        if version.version == 0:  # nothing stored: the environment's value
            return replace(self, follow_operator=False)
        return replace(self, offline_after=int(version.values["node_offline_after"]), follow_operator=False)


@dataclass(frozen=True)
class NodeHealth:
    online: bool
    uptime_bps: int
    last_seen_at: datetime | None


@dataclass(frozen=True)
class HeartbeatResult:
    deployments: frozenset[int]  # deployments whose workloads reported (their health may change)
    accepted: int  # workload entries recorded
    ignored: tuple[str, ...]  # workload ids that are not this node's open leases


def utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)  # SQLite returns naive datetimes


def _minute(ts: datetime) -> int:
    return int(ts.timestamp()) // 60


async def record_heartbeat(
    session: AsyncSession, node_id: int, body: Mapping[str, Any], *, now: datetime, policy: LivenessPolicy
) -> HeartbeatResult:
    """Record liveness, the uptime minute, per-workload state and usage samples; prune this node's
    expired rows. Only workloads of open leases placed on this node are recorded (a node never writes
    another node's state); others are returned in ``ignored``. Flushes, does not commit."""
    res = body.get("resources") or {}
    agent = body.get("agent") or {}
    live = await session.get(wm.NodeLiveness, node_id)
    if live is None:
        live = wm.NodeLiveness(node_id=node_id, first_seen_at=now, last_seen_at=now, heartbeats=0)
        session.add(live)
    live.last_seen_at = now
    live.agent_version = str(agent.get("version", ""))[:64]
    live.cpu_millicores_used = int(res.get("cpu_millicores_used", 0))
    live.memory_mb_used = int(res.get("memory_mb_used", 0))
    live.disk_gb_used = int(res.get("disk_gb_used", 0))
    live.heartbeats = (live.heartbeats or 0) + 1
    await _mark_minute(session, node_id, _minute(now))

    reports = list(body.get("workloads") or [])
    leases = await _node_leases(session, node_id, {str(r.get("lease_id", "")) for r in reports})
    existing = {
        (s.workload_id, s.lease_id): s
        for s in (
            await session.scalars(select(wm.WorkloadState).where(wm.WorkloadState.node_id == node_id))
        ).all()
    }
    touched: set[int] = set()
    ignored: list[str] = []
    accepted = 0
    for r in reports:
        wid, lid = str(r.get("workload_id", "")), str(r.get("lease_id", ""))
        lease = leases.get(lid)
        if lease is None or make_workload_id(lease.deployment_id, lease.replica_index) != wid:
            ignored.append(wid)
            continue
        state = str(r.get("state", ""))
        if state not in wm.WORKLOAD_STATES:
            raise BadHeartbeat("workloads.state", f"unknown state {state!r}")
        row = existing.get((wid, lid))
        if row is None:
            row = wm.WorkloadState(
                node_id=node_id,
                deployment_id=lease.deployment_id,
                lease_row_id=lease.id,
                workload_id=wid,
                lease_id=lid,
                state=state,
            )
            session.add(row)
            existing[(wid, lid)] = row
        row.state = state
        row.restarts = int(r.get("restarts", 0))
        exit_code = r.get("exit_code")
        row.exit_code = int(exit_code) if exit_code is not None else None
        reason = r.get("reason")
        row.reason = str(reason)[:200] if reason is not None else None
        row.updated_at = now
        session.add(
            wm.UsageSample(
                node_id=node_id,
                deployment_id=lease.deployment_id,
                workload_id=wid,
                replica=lease.replica_index,
                role=lease.role,
                at=now,
                cpu_ms=round(float(r.get("cpu_seconds", 0)) * 1000),
                rss_bytes=int(r.get("rss_bytes", 0)),
            )
        )
        touched.add(lease.deployment_id)
        accepted += 1
    await _prune_node(session, node_id, now, policy)
    await session.flush()
    return HeartbeatResult(frozenset(touched), accepted, tuple(ignored))


async def _node_leases(session: AsyncSession, node_id: int, lease_ids: Iterable[str]) -> dict[str, dm.Lease]:
    ids = [x for x in lease_ids if x]
    if not ids:
        return {}
    stmt = select(dm.Lease).where(
        dm.Lease.node_id == node_id, dm.Lease.chain_lease_id.in_(ids), dm.Lease.status == dm.LEASE_OPEN
    )
    return {str(x.chain_lease_id): x for x in (await session.scalars(stmt)).all()}


async def _mark_minute(session: AsyncSession, node_id: int, minute: int) -> None:
    if await session.get(wm.NodeUptimeMinute, (node_id, minute)) is not None:
        return
    try:
        async with session.begin_nested():
            session.add(wm.NodeUptimeMinute(node_id=node_id, minute=minute))
    except IntegrityError:  # a concurrent heartbeat of the same node marked it first
        pass


async def _prune_node(session: AsyncSession, node_id: int, now: datetime, policy: LivenessPolicy) -> None:
    await session.execute(
        delete(wm.UsageSample).where(
            wm.UsageSample.node_id == node_id,
            wm.UsageSample.at < now - timedelta(seconds=policy.usage_retention),
        )
    )
    await session.execute(
        delete(wm.NodeUptimeMinute).where(
            wm.NodeUptimeMinute.node_id == node_id,
            wm.NodeUptimeMinute.minute < _minute(now - timedelta(seconds=policy.uptime_window)),
        )
    )


async def prune(session: AsyncSession, *, now: datetime, policy: LivenessPolicy) -> tuple[int, int]:
    """Delete expired usage samples and uptime minutes of every node; returns the row counts."""
    a = await session.execute(
        delete(wm.UsageSample).where(wm.UsageSample.at < now - timedelta(seconds=policy.usage_retention))
    )
    b = await session.execute(
        delete(wm.NodeUptimeMinute).where(
            wm.NodeUptimeMinute.minute < _minute(now - timedelta(seconds=policy.uptime_window))
        )
    )
    return int(getattr(a, "rowcount", 0) or 0), int(getattr(b, "rowcount", 0) or 0)


def uptime_bps(first_seen: datetime, up_minutes: int, now: datetime, window: int) -> int:
    """The uptime formula (module docs)."""
    now_min = _minute(now)
    start = max(_minute(_aware(first_seen)), _minute(now - timedelta(seconds=window)))
    expected = max(1, now_min - start + 1)
    return min(BPS, up_minutes * BPS // expected)


async def node_health(
    session: AsyncSession, node_ids: Sequence[int], *, now: datetime, policy: LivenessPolicy
) -> dict[int, NodeHealth]:
    """Online flag and uptime of each node (nodes without heartbeats: offline, uptime 0). ``offline_after``
    is the operator's when ``policy`` follows it (:meth:`LivenessPolicy.resolved`)."""
    out = {n: NodeHealth(False, 0, None) for n in node_ids}
    if not node_ids:
        return out
    policy = await policy.resolved(session)
    lives = (
        await session.scalars(select(wm.NodeLiveness).where(wm.NodeLiveness.node_id.in_(node_ids)))
    ).all()
    since = _minute(now - timedelta(seconds=policy.uptime_window))
    counts = dict(
        (
            await session.execute(
                select(wm.NodeUptimeMinute.node_id, func.count())
                .where(wm.NodeUptimeMinute.node_id.in_(node_ids), wm.NodeUptimeMinute.minute >= since)
                .group_by(wm.NodeUptimeMinute.node_id)
            )
        ).all()
    )
    for live in lives:
        last = _aware(live.last_seen_at)
        online = now - last <= timedelta(seconds=policy.offline_after)
        up = uptime_bps(live.first_seen_at, int(counts.get(live.node_id, 0)), now, policy.uptime_window)
        out[live.node_id] = NodeHealth(online, up, last)
    return out
