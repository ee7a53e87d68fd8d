"""Flows that stop halfway: nothing is left paying or reserved (issue 11).

* **Orphaned paying lease** (:func:`orphan_opened`). A lease opened on chain (``LeaseOpened`` indexed) for
  a deployment that has already ended (:data:`~engine.deployments.status.ENDED`: closing, closed,
  expired, failed) or for a lease that was cancelled meanwhile is closed at once, which refunds what has
  not accrued:

  - managed payer: the engine signs a ``closeBySig`` request (the relay, through the outbox); the lease
    is ``retiring`` until its ``LeaseClosed``;
  - wallet-connected payer: **the engine cannot close it.** The escrow lets only the payer or the
    provider close a lease, and anyone else only once it is overdrawn, and the engine holds no key of the
    payer. So the lease is marked ``orphaned`` (never in a node's desired set: the workload is never
    started) and the payer is told on the deployment's status stream, with the unsigned ``close``
    transaction attached to the transition. Until the payer signs it, the lease pays the provider.

* **Silent stuck funding** (:func:`open_failed`). A relayed open whose outbox row failed (the estimate
  or the mined transaction reverted; the outbox decodes the reason) fails the deployment with that
  reason, unless other replicas of it are already open (a scale-up): then only that replica is retired.

* **Capacity griefing** (:func:`expire_reservations`). A deployment still ``funding`` ``reservation_ttl``
  seconds after it was created, and that never started, expires: its unfunded leases are cancelled (the
  capacity they held is released: placement counts only live leases), leases of it already open are
  orphans as above, and a later open for it is one as well. Run by the ``deployments.funding`` job
  (:mod:`engine.deployments.jobs`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chain.contracts import EscrowClient, UnsignedTx
from engine.deployments import models as m
from engine.deployments import status
from engine.workloads.wakeups import note_deployment, note_node, publish_noted

if TYPE_CHECKING:
    from engine.context import Context
    from engine.relay.services import Relay

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Closer:
    """What closing an orphaned lease needs: the relay (managed payers) and the escrow with the chain id
    (the unsigned close for a wallet-connected payer)."""

    relay: Relay | None
    escrow: EscrowClient | None
    chain_id: int | None  # None: no unsigned transactions can be built (the relay's own use)

    @classmethod
    def of(cls, ctx: Context) -> Closer:
        return cls(ctx.relay, ctx.contracts.escrow, ctx.chain_id)


async def note(
    session: AsyncSession, dep: m.Deployment, reason: str, transactions: list[UnsignedTx] | None = None
) -> m.DeploymentTransition:
    """A transition row that keeps the status, streamed like any other (with ``transactions`` to sign)."""
    row = m.DeploymentTransition(
        deployment_id=dep.id,
        from_status=dep.status,
        to_status=dep.status,
        reason=reason[:200],
        transactions=[t.to_json() for t in transactions] if transactions else None,
    )
    session.add(row)
    await session.flush()
    note_deployment(session, dep.id)
    return row


def is_orphan(dep: m.Deployment, lease: m.Lease) -> bool:
    """Whether ``lease``, just opened on chain, must be closed at once."""
    return dep.status in status.ENDED or lease.status == m.LEASE_CANCELLED


async def orphan_opened(session: AsyncSession, dep: m.Deployment, lease: m.Lease, closer: Closer) -> None:
    """``lease`` is open on chain (its id recorded) but must not run: close it (module docs). Flushes; a
    managed payer's close is queued (the caller advances the relay)."""
    lease_id = int(lease.chain_lease_id or 0)
    why = f"deployment {dep.status}" if dep.status in status.ENDED else "replica cancelled"
    note_node(session, lease.node_id)
    if dep.funding == m.FUNDING_MANAGED and closer.relay is not None:
        lease.status = m.RETIRING
        await closer.relay.queue(session, dep, lease, m.REQ_CLOSE)
        await note(session, dep, f"lease {lease_id} opened after the {why}: closing it, the rest is refunded")
        return
    lease.status = m.ORPHANED
    txs: list[UnsignedTx] = []
    if closer.escrow is not None and closer.chain_id is not None:
        txs.append(
            UnsignedTx(
                closer.escrow.address,
                closer.escrow.encode_close(lease_id),
                closer.chain_id,
                from_address=dep.payer,
                description=f"close lease {lease_id}, opened after the {why}, to get the deposit back",
            )
        )
    await note(
        session,
        dep,
        f"lease {lease_id} opened after the {why}: it will not run; sign its close to get the rest back",
        txs,
    )


async def _cancel_unfunded(session: AsyncSession, dep: m.Deployment) -> list[m.Lease]:
    """Cancel the deployment's leases not opened on chain; return those open on chain (in service)."""
    leases = list((await session.scalars(select(m.Lease).where(m.Lease.deployment_id == dep.id))).all())
    for x in leases:
        if x.status in (m.AWAITING_FUNDS, m.RESERVED):
            x.status = m.LEASE_CANCELLED
            note_node(session, x.node_id)
    return [x for x in leases if x.status == m.LEASE_OPEN]


async def open_failed(
    session: AsyncSession, closer: Closer, request: m.EscrowRequest, error: str | None
) -> None:
    """A relayed open (``request``) failed on chain with ``error``: fail the deployment (or, when other
    replicas of it are open, retire only this one). Called by the relay when it sees the outbox row
    failed. Flushes."""
    lease = await session.get(m.Lease, request.lease_row_id)
    dep = await session.get(m.Deployment, request.deployment_id)
    if lease is None or dep is None or lease.status != m.AWAITING_FUNDS:
        return
    reason = f"funding failed: {error or 'the open reverted'}"
    open_primaries = (
        await session.scalars(
            select(m.Lease.id).where(
                m.Lease.deployment_id == dep.id, m.Lease.role == m.PRIMARY, m.Lease.status == m.LEASE_OPEN
            )
        )
    ).all()
    if open_primaries and dep.status not in status.ENDED:
        from engine.scaling.services import retire

        index = lease.replica_index
        retire(lease)  # awaiting funds -> cancelled, index freed
        note_node(session, lease.node_id)
        await note(session, dep, f"replica {index}: {reason}")
        from engine.deployments.services import settle_status

        await settle_status(session, dep, "every lease opened on chain")
        return
    if dep.status in status.ENDED:
        lease.status = m.LEASE_CANCELLED
        await session.flush()
        return
    still_open = await _cancel_unfunded(session, dep)
    await status.fail(session, dep, reason)
    for x in still_open:  # open leases of a failed deployment are closed like orphans
        await orphan_opened(session, dep, x, closer)


async def expire(session: AsyncSession, dep: m.Deployment, closer: Closer, ttl: int) -> None:
    """Expire one unfunded deployment (module docs). Flushes."""
    still_open = await _cancel_unfunded(session, dep)
    await status.move(session, dep, status.EXPIRED, f"not funded within {ttl} s: reservation released")
    for x in still_open:
        await orphan_opened(session, dep, x, closer)


async def expire_reservations(ctx: Context) -> int:
    """Expire the deployments ``funding`` since longer than ``reservation_ttl`` that never started (each
    in its own transaction); returns how many. Wake-ups are published after each commit."""
    ttl = int(ctx.settings.reservation_ttl)
    cutoff = ctx.clock() - timedelta(seconds=ttl)
    started = select(m.DeploymentTransition.deployment_id).where(
        m.DeploymentTransition.to_status == status.STARTING
    )
    async with ctx.sessionmaker() as session:
        ids = list(
            (
                await session.scalars(
                    select(m.Deployment.id)
                    .where(
                        m.Deployment.status == status.FUNDING,
                        m.Deployment.created_at < cutoff,
                        m.Deployment.id.not_in(started),
                    )
                    .order_by(m.Deployment.id)
                )
            ).all()
        )
    closer = Closer.of(ctx)
    done = 0
    for dep_id in ids:
        async with ctx.sessionmaker() as session:
            async with session.begin():
                dep = await session.get(m.Deployment, dep_id, with_for_update=True)
                if dep is None or dep.status != status.FUNDING:
                    continue  # funded or closed meanwhile
                await expire(session, dep, closer, ttl)
                if closer.relay is not None and dep.funding == m.FUNDING_MANAGED:
                    await closer.relay.advance(session, dep.payer)
                done += 1
            await publish_noted(ctx.hub, session)
    if done:
        log.info("expired %d unfunded deployments", done)
    return done


async def check_relay(ctx: Context) -> int:
    """Advance every managed payer's relay queue: this is where a failed relayed open is noticed
    (:func:`open_failed`) when no escrow event follows it. Returns how many requests were enqueued."""
    if ctx.relay is None:
        return 0
    async with ctx.sessionmaker() as session:
        async with session.begin():
            n = await ctx.relay.advance_all(session)
        await publish_noted(ctx.hub, session)
    return n
