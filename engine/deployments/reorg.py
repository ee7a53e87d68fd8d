"""Wake-ups after a reorg's rollback (issue 13, reorg-safe consumers).

The rollback itself reverts what the subscribers derived from the removed events, in the indexer's own
transaction (:mod:`engine.indexer.undo`): a lease whose ``LeaseOpened`` was orphaned is awaiting funds
again, its deployment back in ``funding``. The indexer has no hub, so nobody is woken by that commit.
:class:`RollbackWakeups`, registered with ``EventIndexer.on_rollback`` by :mod:`engine.runtime`, wakes
the long-polls of the nodes whose desired set may have changed and the streams of the deployments
concerned, found from the removed events' ``leaseId`` / ``nodeId`` / ``provider`` arguments. A spurious
wake-up only costs a re-read; a missed one delays a node agent until its long-poll times out.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from eth_utils.address import to_checksum_address
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from engine.deployments import models as m
from engine.indexer.interfaces import IndexedEvent
from engine.nodes.models import Node
from engine.notify import Hub
from engine.workloads.wakeups import note_deployment, note_node, publish_noted

log = logging.getLogger(__name__)


class RollbackWakeups:
    """``EventIndexer.on_rollback`` callback: publish the node and deployment topics the removed events
    touched (after the rollback committed)."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], hub: Hub | None) -> None:
        self.sessionmaker = sessionmaker
        self.hub = hub

    async def __call__(self, events: Sequence[IndexedEvent]) -> None:
        if self.hub is None or not events:
            return
        lease_ids = {str(e.int_arg("leaseId")) for e in events if "leaseId" in e.args}
        chain_nodes = {e.int_arg("nodeId") for e in events if "nodeId" in e.args}
        providers = {to_checksum_address(str(e.args["provider"])) for e in events if "provider" in e.args}
        async with self.sessionmaker() as session:
            leases = (
                await session.execute(
                    select(m.Lease.node_id, m.Lease.deployment_id).where(
                        or_(m.Lease.chain_lease_id.in_(lease_ids), m.Lease.chain_node_id.in_(chain_nodes))
                    )
                )
            ).all()
            for node_id, deployment_id in leases:
                note_node(session, node_id)
                note_deployment(session, deployment_id)
            nodes = await session.scalars(
                select(Node.id).where(
                    or_(Node.chain_node_id.in_(chain_nodes), Node.wallet_address.in_(providers))
                )
            )
            for node_id in nodes.all():
                note_node(session, node_id)
            await publish_noted(self.hub, session)
