"""The indexer subscriber for ``DeploymentEscrow`` events (wired by :mod:`engine.runtime`).

``LeaseOpened`` is matched to the oldest lease awaiting funds with the same payer (the deployment's),
spec hash and on-chain node; it records the lease id, the stored (possibly discounted) rate and the
deposit. ``LeaseClosed`` closes the lease and records the refund. The deployment's status follows
(:func:`engine.deployments.services.settle_status`). Settlement events are not needed here (a lease
emptied by settlement is followed by its ``LeaseClosed``). Each handler is idempotent. After the batch the
managed-payer relay is advanced (the next queued signed request goes to the outbox). A lease opening or
closing changes its node's desired set: the node topic (and the deployment topic on a status change) is
published on the wake-up hub after the commit (:mod:`engine.workloads.wakeups`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from eth_utils.address import to_checksum_address
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from engine.deployments import models as m
from engine.deployments.relay import Relay
from engine.deployments.services import settle_status
from engine.indexer.interfaces import IndexedEvent
from engine.notify import Hub
from engine.workloads.wakeups import note_node, publish_noted

log = logging.getLogger(__name__)

ESCROW = "DeploymentEscrow"


def _hex32(value: object) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    text = str(value).lower()
    return text if text.startswith("0x") else "0x" + text


async def on_lease_opened(session: AsyncSession, event: IndexedEvent) -> m.Lease | None:
    lease_id = str(event.int_arg("leaseId"))
    existing = (await session.scalars(select(m.Lease).where(m.Lease.chain_lease_id == lease_id))).first()
    if existing is not None:
        return existing
    payer = to_checksum_address(str(event.args["payer"]))
    stmt = (
        select(m.Lease, m.Deployment)
        .join(m.Deployment, m.Deployment.id == m.Lease.deployment_id)
        .where(
            m.Deployment.payer == payer,
            m.Deployment.spec_hash == _hex32(event.args["specHash"]),
            m.Lease.chain_node_id == event.int_arg("nodeId"),
            m.Lease.status == m.AWAITING_FUNDS,
            m.Lease.role == m.PRIMARY,
        )
        .order_by(m.Deployment.id, m.Lease.replica_index)
        .limit(1)
    )
    found = (await session.execute(stmt)).first()
    if found is None:
        return None  # not ours (opened outside the API) or the deployment was closed before funding
    lease, dep = found
    lease.chain_lease_id = lease_id
    lease.status = m.LEASE_OPEN
    lease.opened_block = event.block_number
    lease.rate_per_second = event.int_arg("ratePerSecond")
    lease.deposit = event.int_arg("deposit")
    note_node(session, lease.node_id)
    await session.flush()
    await settle_status(session, dep, "every lease opened on chain")
    return lease


async def on_lease_closed(session: AsyncSession, event: IndexedEvent) -> m.Lease | None:
    lease_id = str(event.int_arg("leaseId"))
    lease = (await session.scalars(select(m.Lease).where(m.Lease.chain_lease_id == lease_id))).first()
    if lease is None or lease.status == m.LEASE_CLOSED:
        return lease
    lease.status = m.LEASE_CLOSED
    lease.closed_block = event.block_number
    lease.refund = event.int_arg("refund")
    note_node(session, lease.node_id)
    await session.flush()
    dep = await session.get(m.Deployment, lease.deployment_id)
    assert dep is not None
    reason = "closed by request" if dep.status == m.CLOSING else "lease closed on chain (ran dry or closed)"
    await settle_status(session, dep, reason)
    return lease


class EscrowSubscriber:
    """``EventIndexer.on_events`` callback: apply escrow events, then advance the relay."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], relay: Relay | None, hub: Hub | None = None
    ) -> None:
        self.sessionmaker = sessionmaker
        self.relay = relay
        self.hub = hub

    async def __call__(self, events: Sequence[IndexedEvent]) -> None:
        mine = [e for e in events if e.contract == ESCROW]
        async with self.sessionmaker() as session:
            async with session.begin():
                await self._apply(session, mine)
            await publish_noted(self.hub, session)

    async def _apply(self, session: AsyncSession, mine: Sequence[IndexedEvent]) -> None:
        for event in mine:
            if event.event == "LeaseOpened":
                await on_lease_opened(session, event)
            elif event.event == "LeaseClosed":
                await on_lease_closed(session, event)
        if self.relay is not None:
            try:
                async with session.begin_nested():
                    await self.relay.advance_all(session)
            except Exception:  # a relay problem must not lose the indexed events
                log.exception("escrow relay advance failed")
