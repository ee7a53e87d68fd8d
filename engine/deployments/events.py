"""The indexer subscriber for ``DeploymentEscrow`` events (wired by :mod:`engine.runtime`).

``LeaseOpened`` is matched to the lease its relayed ``openBySig`` was sent for (the outbox row mined in
that transaction), else to the oldest lease not yet opened with the same payer (the deployment's), spec
hash and on-chain node (awaiting funds first, else cancelled); it records the lease id, the stored
(possibly discounted) rate and the deposit. A lease opened for a deployment that has already ended, or
cancelled meanwhile, is closed at once (:mod:`engine.deployments.lifecycle`). A lease whose node, spec or
rate differ from the quote the engine issued for it is rejected: never started, closed where the engine can
(:mod:`engine.deployments.quotecheck`). ``LeaseClosed`` closes
the lease and records the refund. The deployment's status follows
(:func:`engine.deployments.services.settle_status`). Settlement events are not needed here (a lease
emptied by settlement is followed by its ``LeaseClosed``). Each handler is idempotent. After the batch the
managed-payer relay is advanced (the next queued signed request goes to the outbox). A lease opening or
closing changes its node's desired set: the node topic (and the deployment topic on a status change) is
published on the wake-up hub after the commit (:mod:`engine.workloads.wakeups`).

Stops (issue 10): ``LeaseStopped`` and the registry's ``NodeRemoved`` / ``ProviderDeactivated`` (the same
batch, applied by the registry subscriber first) record the stop on the leases and tell their users
(:mod:`engine.deployments.stops`); after the commit the stopped replicas are failed over to their backups
through the existing failover (:func:`engine.scaling.failover.fail_over_stopped`), unless the escrow is
paused (the ``deployments.failover`` job retries).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from eth_utils.address import to_checksum_address
from sqlalchemy import case, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from engine.deployments import models as m
from engine.deployments import quotecheck, stops
from engine.deployments.lifecycle import Closer, is_orphan, orphan_opened
from engine.deployments.services import settle_status
from engine.indexer import undo
from engine.indexer.interfaces import IndexedEvent
from engine.notifications.services import publish_noted as publish_notifications
from engine.notify import Hub
from engine.outbox.models import OutboxTx
from engine.relay.services import Relay
from engine.scaling.failover import FailoverDeps, fail_over_stopped
from engine.workloads.wakeups import note_node, publish_noted

log = logging.getLogger(__name__)

ESCROW = "DeploymentEscrow"
REGISTRY = "ProviderRegistry"
_TIMED = ("LeaseOpened", "NodeRemoved")  # events whose block time the handlers use


def _hex32(value: object) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    text = str(value).lower()
    return text if text.startswith("0x") else "0x" + text


async def _relayed_lease(session: AsyncSession, event: IndexedEvent) -> m.Lease | None:
    """The lease a relayed ``openBySig`` was sent for (the outbox row mined in the event's transaction)."""
    row = (
        await session.scalars(
            select(OutboxTx).where(
                OutboxTx.tx_hash == event.tx_hash.lower(), OutboxTx.kind == "escrow.openBySig"
            )
        )
    ).first()
    lease_row_id = (row.args or {}).get("lease_row_id") if row is not None else None
    return None if lease_row_id is None else await session.get(m.Lease, int(lease_row_id))


async def _matching_lease(session: AsyncSession, event: IndexedEvent) -> m.Lease | None:
    """The oldest lease not yet opened with the event's payer, spec hash and node: awaiting funds first,
    else one cancelled meanwhile (its open was already signed or sent: an orphan)."""
    stmt = (
        select(m.Lease)
        .join(m.Deployment, m.Deployment.id == m.Lease.deployment_id)
        .where(
            m.Deployment.payer == to_checksum_address(str(event.args["payer"])),
            m.Deployment.spec_hash == _hex32(event.args["specHash"]),
            m.Lease.chain_node_id == event.int_arg("nodeId"),
            m.Lease.chain_lease_id.is_(None),
            m.Lease.status.in_((m.AWAITING_FUNDS, m.LEASE_CANCELLED)),
            m.Lease.role.in_((m.PRIMARY, m.RETIRED)),
        )
        .order_by(
            case((m.Lease.status == m.AWAITING_FUNDS, 0), else_=1),
            m.Lease.role == m.RETIRED,
            m.Deployment.id,
            m.Lease.replica_index,
        )
        .limit(1)
    )
    return (await session.scalars(stmt)).first()


async def on_lease_opened(
    session: AsyncSession, event: IndexedEvent, closer: Closer | None = None, opened_at: int | None = None
) -> m.Lease | None:
    """Record the lease; a lease of a deployment that has ended (or cancelled meanwhile) is an orphan,
    closed at once (:func:`engine.deployments.lifecycle.orphan_opened`). ``opened_at``: the block's chain
    time (checked against the stored quote expiry; ``None``: unknown)."""
    lease_id = str(event.int_arg("leaseId"))
    existing = (await session.scalars(select(m.Lease).where(m.Lease.chain_lease_id == lease_id))).first()
    if existing is not None:
        return existing
    lease = await _relayed_lease(session, event)
    if lease is None or lease.chain_lease_id is not None:
        lease = await _matching_lease(session, event)
    if lease is None:
        return None  # not ours (opened outside the API)
    dep = await session.get(m.Deployment, lease.deployment_id)
    assert dep is not None
    orphan = is_orphan(dep, lease)
    # issue 10: before the event's values are recorded
    unquoted = quotecheck.mismatch(dep, lease, event, opened_at)
    if unquoted is not None and not orphan:
        closing = closer or Closer(None, None, None)
        return await quotecheck.reject(session, dep, lease, event, closing, unquoted)
    lease.chain_lease_id = lease_id
    lease.status = m.LEASE_OPEN
    lease.opened_block = event.block_number
    lease.rate_per_second = event.int_arg("ratePerSecond")
    lease.deposit = event.int_arg("deposit")
    note_node(session, lease.node_id)
    await session.flush()
    if orphan:
        await orphan_opened(session, dep, lease, closer or Closer(None, None, None))
        return lease
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
    """``EventIndexer.on_events`` callback: apply escrow events (and the registry's node stops), then
    advance the relay; after the commit fail the stopped replicas over."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        relay: Relay | None,
        hub: Hub | None = None,
        *,
        chain_id: int | None = None,
        failover: FailoverDeps | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.relay = relay
        self.hub = hub
        self.failover = failover
        # an orphaned lease's close: relayed (managed payer) or handed to the payer (needs the chain id)
        self.closer = Closer(relay, relay.escrow if relay is not None else None, chain_id)

    async def _block_times(self, events: Sequence[IndexedEvent]) -> dict[int, int]:
        """Chain time of the blocks of the events that need it (none without a chain client)."""
        escrow = self.closer.escrow
        out: dict[int, int] = {}
        if escrow is None:
            return out
        for number in sorted({e.block_number for e in events if e.event in _TIMED}):
            try:
                block: Any = await escrow.w3.eth.get_block(number)
                out[number] = int(block["timestamp"])
            except Exception:  # an unreachable node must not lose the events: checks without the time
                log.warning("could not read block %s; its time is unknown", number)
        return out

    async def __call__(self, events: Sequence[IndexedEvent]) -> None:
        mine = [
            e
            for e in events
            if e.contract == ESCROW or (e.contract == REGISTRY and e.event in stops.STOP_EVENTS)
        ]
        times = await self._block_times(mine)
        async with self.sessionmaker() as session:
            async with session.begin():
                stopped = await self._apply(session, mine, times)
            await publish_noted(self.hub, session)
            await publish_notifications(self.hub, session)
        if stopped and self.failover is not None:
            try:
                await fail_over_stopped(self.sessionmaker, self.hub, self.failover, stopped)
            except Exception:  # the deployments.failover job tries again
                log.exception("failover of stopped leases failed")

    async def _apply(
        self, session: AsyncSession, mine: Sequence[IndexedEvent], times: dict[int, int]
    ) -> list[int]:
        """Apply the events; returns the row ids of the leases newly stopped."""
        stopped: list[stops.Stop] = []
        for event in mine:
            await undo.track(session, event)  # journaled: a reorg's rollback reverts it
            if event.event == "LeaseOpened":
                await on_lease_opened(session, event, self.closer, times.get(event.block_number))
            elif event.event == "LeaseClosed":
                await on_lease_closed(session, event)
            elif event.event in stops.STOP_EVENTS:
                new = await stops.record_stop(session, event, times.get(event.block_number))
                await stops.announce(session, new, self.closer)  # under this event's journal tag
                stopped += new
        await undo.track(session, None)  # the relay's work is no event's (module docs of engine.indexer.undo)
        if self.relay is not None:
            try:
                async with session.begin_nested():
                    await self.relay.advance_all(session)
            except Exception:  # a relay problem must not lose the indexed events
                log.exception("escrow relay advance failed")
        return [x.lease.id for x in stopped]
