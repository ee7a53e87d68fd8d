"""Leases whose node stopped on chain (issue 10): recorded, announced, never topped up, failed over.

From the moment a node stops being active (removed by its provider, or its provider suspended or
exiting) the escrow's leases on it accrue nothing more; they stay open so the payer (or the provider) can
``close`` them and get the rest back. The indexer tells the engine through three events, applied by the
escrow subscriber (:class:`engine.deployments.events.EscrowSubscriber`) after the registry subscriber has
applied the same batch:

===========================  ====================================================================
event                        leases stopped, and since when
===========================  ====================================================================
``LeaseStopped`` (escrow)    that lease, at the event's ``stoppedAt`` (emitted by a settle or close
                             that ran up to the stop)
``NodeRemoved`` (registry)   every lease open on chain on that node, at the block's time
``ProviderDeactivated``      every lease open on chain on the provider's nodes, at the event's ``at``
===========================  ====================================================================

:func:`record_stop` writes ``leases.stopped_at`` / ``stopped_block`` once (the first signal wins; replays
change nothing) and returns the leases it newly stopped; :func:`announce` tells the deployment's user
(one notification per lease, :func:`engine.notifications.services.notify`, deduplicated by the lease id)
and puts a note on the deployment's status stream: the replica moves to the backup node when the
deployment has one (the existing failover, :mod:`engine.scaling.failover`, run by the subscriber after
the commit and by the ``deployments.failover`` job), else the payer is asked to close the lease (a
wallet-connected payer gets the unsigned ``close`` with the note; ``close_deployment`` offers it as
usual). A stopped lease is never topped up by the engine: ``top_up_deployment`` leaves it out and the
relay drops a queued top-up of it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from eth_utils.address import to_checksum_address
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chain.contracts import UnsignedTx
from engine.deployments import models as m
from engine.deployments.lifecycle import Closer, note
from engine.indexer.interfaces import IndexedEvent
from engine.nodes.models import Node
from engine.notifications.services import notify

log = logging.getLogger(__name__)

STOP_EVENTS = ("LeaseStopped", "NodeRemoved", "ProviderDeactivated")
NOTIFICATION_KIND = "lease_stopped"
# leases open on chain (a retiring or orphaned lease is still open until its LeaseClosed)
_ON_CHAIN = (m.LEASE_OPEN, m.RETIRING, m.ORPHANED)


@dataclass(frozen=True)
class Stop:
    """A lease newly recorded as stopped, and why."""

    lease: m.Lease
    why: str


async def _leases_for(session: AsyncSession, event: IndexedEvent) -> tuple[list[m.Lease], str]:
    base = select(m.Lease).where(m.Lease.chain_lease_id.is_not(None), m.Lease.status.in_(_ON_CHAIN))
    if event.event == "LeaseStopped":
        stmt = base.where(m.Lease.chain_lease_id == str(event.int_arg("leaseId")))
        why = "its node stopped being active on chain"
    elif event.event == "NodeRemoved":
        node = event.int_arg("nodeId")
        stmt = base.where(m.Lease.chain_node_id == node)
        why = f"node {node} was removed on chain"
    else:  # ProviderDeactivated
        provider = to_checksum_address(str(event.args["provider"]))
        stmt = base.join(Node, Node.id == m.Lease.node_id).where(Node.wallet_address == provider)
        why = "the node's provider was suspended or is exiting"
    return list((await session.scalars(stmt.order_by(m.Lease.id))).all()), why


def _stopped_at(event: IndexedEvent, block_time: int | None) -> int | None:
    if event.event == "LeaseStopped":
        return event.int_arg("stoppedAt")
    if event.event == "ProviderDeactivated":
        return event.int_arg("at")
    return block_time


async def record_stop(session: AsyncSession, event: IndexedEvent, block_time: int | None) -> list[Stop]:
    """Mark the leases ``event`` (one of :data:`STOP_EVENTS`) stops; ``block_time`` is its block's chain
    time (``None``: unknown). Returns the leases stopped by this call (not those stopped before). Flushes."""
    if event.event not in STOP_EVENTS:
        return []
    leases, why = await _leases_for(session, event)
    at = _stopped_at(event, block_time)
    out = []
    for lease in leases:
        if lease.stopped_block is not None:
            continue
        lease.stopped_at = at
        lease.stopped_block = event.block_number
        out.append(Stop(lease, why))
    await session.flush()
    return out


async def _has_spare(session: AsyncSession, dep: m.Deployment) -> bool:
    spare = await session.scalar(
        select(m.Lease.id)
        .where(m.Lease.deployment_id == dep.id, m.Lease.role == m.BACKUP, m.Lease.status == m.RESERVED)
        .limit(1)
    )
    return spare is not None


async def announce(session: AsyncSession, stops: Sequence[Stop], closer: Closer) -> None:
    """Tell each stopped lease's user (a notification, deduplicated per lease) and note it on the
    deployment's stream (module docs). Runs in the caller's transaction."""
    for stop in stops:
        lease = stop.lease
        dep = await session.get(m.Deployment, lease.deployment_id)
        if dep is None:
            continue
        in_service = lease.role == m.PRIMARY and lease.status == m.LEASE_OPEN
        moving = in_service and await _has_spare(session, dep)
        lease_id = int(lease.chain_lease_id or 0)
        what = f"lease {lease_id} of deployment {dep.id} stopped charging: {stop.why}"
        txs: list[UnsignedTx] = []
        if moving:
            action = "its replica moves to the backup node"
        else:
            action = "close the lease to get the rest of its balance back"
            if dep.funding == m.FUNDING_WALLET and closer.escrow is not None and closer.chain_id is not None:
                txs.append(
                    UnsignedTx(
                        closer.escrow.address,
                        closer.escrow.encode_close(lease_id),
                        closer.chain_id,
                        from_address=dep.payer,
                        description=f"close lease {lease_id}, stopped on chain, to get the rest back",
                    )
                )
        await note(session, dep, f"{what}; {action}", txs)
        await notify(
            session,
            dep.user_id,
            NOTIFICATION_KIND,
            f"{NOTIFICATION_KIND}:{lease_id}",
            f"A node of deployment {dep.id} stopped",
            f"{what}. Nothing more is charged for it; {action}.",
            {
                "deployment_id": dep.id,
                "lease_id": str(lease_id),
                "node_id": lease.node_id,
                "stopped_at": lease.stopped_at,
                "failover": moving,
            },
        )
        log.info("lease %s of deployment %s stopped on chain: %s", lease_id, dep.id, stop.why)
