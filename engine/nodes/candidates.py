"""The placement view of nodes: which are in maintenance, and :class:`NodeCandidate` rows for placement.

A node is a candidate when it is linked on chain (``active``) and has a location. ``provider_approved``
comes from the registry mirror (``providers`` table), ``in_maintenance`` is true when a scheduled window
overlaps ``[now, now + horizon)``. ``online`` and ``uptime_bps`` come from the node agents' heartbeats
(:func:`engine.workloads.heartbeats.node_health`: online = last heartbeat at most ``offline_after`` seconds
ago by the wall clock, uptime = share of heartbeat minutes in the window); a node that never sent one is
offline. ``allocated`` is left empty here. Placement itself reads candidates through
:mod:`engine.placement.store` (one statement, allocations included, no per-node parameters); this older
loader (``node_health`` with an ``IN`` list of node ids) is kept for its callers in the tests.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.nodes.models import NODE_ACTIVE, WINDOW_SCHEDULED, MaintenanceWindow, Node
from engine.placement.models import Capacity, NodeCandidate, UnitPrices
from engine.providers.models import ProviderChainState
from engine.workloads.heartbeats import LivenessPolicy, node_health, utcnow

APPROVED = "Approved"


async def nodes_in_maintenance(session: AsyncSession, start: int, end: int) -> set[int]:
    """Database ids of nodes with a scheduled window overlapping ``[start, end)`` (Unix seconds)."""
    stmt = select(MaintenanceWindow.node_id).where(
        MaintenanceWindow.status == WINDOW_SCHEDULED,
        MaintenanceWindow.start_at < end,
        MaintenanceWindow.end_at > start,
    )
    return set((await session.scalars(stmt)).all())


async def placement_candidates(
    session: AsyncSession,
    *,
    now: int,
    horizon: int = 0,
    liveness: LivenessPolicy | None = None,
    wall_now: datetime | None = None,
) -> list[NodeCandidate]:
    """Every active node as a :class:`NodeCandidate` (``node_id`` = the on-chain node id as a string,
    ``provider_id`` = the provider wallet, ``alliance_id`` = the payee when it is not the provider).
    ``now`` is chain time (maintenance windows); ``wall_now`` (default: now) judges heartbeats."""
    busy = await nodes_in_maintenance(session, now, now + max(horizon, 1))
    stmt = (
        select(Node, ProviderChainState.status)
        .outerjoin(ProviderChainState, ProviderChainState.address == Node.wallet_address)
        .where(Node.status == NODE_ACTIVE, Node.chain_node_id.is_not(None), Node.region.is_not(None))
        .order_by(Node.chain_node_id)
    )
    rows = (await session.execute(stmt)).all()
    health = await node_health(
        session, [n.id for n, _ in rows], now=wall_now or utcnow(), policy=liveness or LivenessPolicy()
    )
    out: list[NodeCandidate] = []
    for node, provider_status in rows:
        h = health[node.id]
        out.append(
            NodeCandidate(
                node_id=str(node.chain_node_id),
                provider_id=str(node.wallet_address),
                alliance_id=node.payee if node.payee != node.wallet_address else None,
                region=str(node.region),
                country=node.country or "",
                capacity=Capacity(
                    node.cpu_millicores, node.memory_mb, node.disk_gb, node.gpu_model, node.gpu_count
                ),
                allocated=Capacity(0, 0, 0, node.gpu_model, 0),
                prices=UnitPrices(
                    node.price_per_cpu_millicore,
                    node.price_per_memory_mb,
                    node.price_per_disk_gb,
                    node.price_per_gpu,
                ),
                attributes=frozenset(node.attributes or ()),
                certified=node.certified,
                provider_approved=provider_status == APPROVED,
                in_maintenance=node.id in busy,
                bandwidth_mbps=node.bandwidth_mbps,
                online=h.online,
                uptime_bps=h.uptime_bps,
            )
        )
    return out
