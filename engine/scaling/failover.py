"""Backup-VM failover: move a replica whose node died onto the deployment's reserved backup node.

Trigger (:func:`check`): an open primary lease of a deployment in ``starting``/``running``/``degraded``/
``failing-over`` that has a ``reserved`` backup lease, whose node is *stopped on chain* (removed, or its
provider suspended or exiting: its leases accrue nothing more, issue 10; :func:`stopped_on_chain`, or the
lease's own recorded stop, ``leases.stopped_at``: :mod:`engine.deployments.stops`, whose subscriber calls
:func:`fail_over_stopped` at once),
*offline* (no heartbeat for ``LivenessPolicy.offline_after`` seconds, :mod:`engine.workloads.heartbeats`)
or *in maintenance* now (chain time), while the backup node is online, not in maintenance and not stopped.

One failover (:func:`fail_over`, one database transaction):

1. **Claim** the dead primary lease with a conditional ``UPDATE leases SET status='retiring' WHERE id=?
   AND status='open' AND role='primary'``, then the backup with ``... WHERE status='reserved'``; a
   trigger that updates no row stops (someone else failed it over). On PostgreSQL the first updater holds
   the row lock until it commits and the second re-reads ``status`` and updates nothing; SQLite serialises
   writers. A ``failovers`` row keyed UNIQUE by the dead lease is inserted in the same transaction as a
   second guard. So a flapping primary, a repeated or a concurrent trigger never makes two backups.
2. The dead lease is *retired* (``role 'retired'``, index ``-(row id)``, status ``retiring``: it leaves
   the dead node's desired set at once); the backup lease becomes the replica's primary (same index,
   ``awaiting_funds``): the backup node's desired set gains the workload once its lease is open. Both
   nodes are noted for a wake-up (their cursors are content digests, so they change with the sets);
   the caller publishes after the commit.
3. The deployment enters ``failing-over`` (:func:`engine.deployments.status.begin_failover`).
4. Funding the move:
   * **managed wallet**: a ``close`` request for the dead lease is queued for the relay (signed with the
     managed key, relayed through the outbox). When its ``LeaseClosed`` is indexed, :func:`progress`
     queues the backup's ``open`` with the dead lease's refund as deposit (the escrow settled the
     provider's due at close), so the payer needs no extra funds.
   * **wallet-connected payer**: only the payer's wallet (or the provider) can close and open. The
     transition's reason names the two transactions; the full unsigned txs (close the dead lease, an
     approve if the allowance is short, open the backup's lease with the dead lease's balance as deposit)
     are stored on the failover row and sent with that transition on the SSE stream (``transactions``).
5. :func:`progress` ends it: once the backup lease is open and its workload reports ``running`` on an
   online node, the deployment goes ``failing-over`` → ``running`` (or ``degraded`` when another replica
   is not running) and the failover is ``done``.

Emergency pause (issue 10): while the escrow is paused the backup's open would revert, so :func:`run`
starts no failover and :func:`progress` queues no backup open (both resume once unpaused); closes of dead
leases already queued go on (closes always work).

Not done: reserving a *new* backup after a failover (the deployment runs without a spare until it is
recreated); a wallet-connected payer who never signs stays ``failing-over``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chain.contracts import CreditTokenClient, EscrowClient, UnsignedTx
from chain.quotes import Quoter
from engine.deployments import models as m
from engine.deployments import status
from engine.deployments.transactions import EscrowTxs
from engine.money import CreditUnits
from engine.nodes.candidates import nodes_in_maintenance
from engine.nodes.models import NODE_REMOVED, Node
from engine.notify import Hub
from engine.providers.models import ProviderChainState
from engine.relay.errors import NoRelay
from engine.relay.services import Relay
from engine.scaling.models import FO_ACTIVE, FO_CLOSING, FO_DONE, FO_FAILED, FO_OPENING, Failover
from engine.scaling.services import retire
from engine.workloads import health
from engine.workloads import models as wm
from engine.workloads.desired import workload_id
from engine.workloads.heartbeats import LivenessPolicy, node_health, utcnow
from engine.workloads.wakeups import note_node, publish_noted

log = logging.getLogger(__name__)

WATCHED = (status.STARTING, status.RUNNING, status.DEGRADED, status.FAILING_OVER)


@dataclass(frozen=True)
class FailoverDeps:
    escrow: EscrowClient
    token: CreditTokenClient
    chain_id: int
    relay: Relay | None
    liveness: LivenessPolicy  # offline_after: the missed-heartbeat threshold
    quoter: Quoter | None = None  # signs the backup's open for a wallet-connected payer (issue 10)


@dataclass(frozen=True)
class Candidate:
    deployment_id: int
    lease_row_id: int
    why: str


async def _rowcount(session: AsyncSession, stmt: Any) -> int:
    return int(getattr(await session.execute(stmt), "rowcount", 0) or 0)


async def fail_over(
    session: AsyncSession, lease_row_id: int, why: str, deps: FailoverDeps
) -> Failover | None:
    """Fail primary lease ``lease_row_id`` over to its deployment's reserved backup (module docs).
    Returns the new :class:`Failover`, or ``None`` when there is nothing (more) to do. Runs inside the
    caller's transaction; flushes."""
    dead = await session.get(m.Lease, lease_row_id)
    if dead is None:
        return None
    dep = await session.get(m.Deployment, dead.deployment_id)
    if dep is None or dep.status not in WATCHED:
        return None
    backup = (
        await session.scalars(
            select(m.Lease)
            .where(m.Lease.deployment_id == dep.id, m.Lease.role == m.BACKUP, m.Lease.status == m.RESERVED)
            .limit(1)
        )
    ).first()
    if backup is None:
        return None
    claimed = await _rowcount(
        session,
        update(m.Lease)
        .where(m.Lease.id == dead.id, m.Lease.status == m.LEASE_OPEN, m.Lease.role == m.PRIMARY)
        .values(status=m.RETIRING)
        .execution_options(synchronize_session=False),
    )
    if claimed != 1:
        return None
    got_backup = await _rowcount(
        session,
        update(m.Lease)
        .where(m.Lease.id == backup.id, m.Lease.status == m.RESERVED)
        .values(status=m.AWAITING_FUNDS)
        .execution_options(synchronize_session=False),
    )
    await session.refresh(dead)
    await session.refresh(backup)
    if got_backup != 1:  # another replica of this deployment took the backup first
        dead.status = m.LEASE_OPEN
        await session.flush()
        return None
    index = dead.replica_index
    try:
        async with session.begin_nested():
            row = Failover(
                deployment_id=dep.id,
                replica_index=index,
                from_lease_row_id=dead.id,
                to_lease_row_id=backup.id,
                status=FO_CLOSING,
                reason=why[:200],
            )
            session.add(row)
    except IntegrityError:
        return None  # unreachable after the claim; kept as the database-level guard
    dead_lease_id = int(dead.chain_lease_id or 0)
    retire(dead)
    dead.status = m.RETIRING
    await session.flush()
    backup.role = m.PRIMARY
    backup.replica_index = index
    backup.status = m.AWAITING_FUNDS
    backup.deposit = max(backup.rate_per_second, dead.deposit)  # managed: replaced by the refund
    dep.rate_per_second = dep.rate_per_second - dead.rate_per_second + backup.rate_per_second
    await session.flush()
    note_node(session, dead.node_id)
    note_node(session, backup.node_id)
    reason = f"replica {index}: node {dead.node_id} {why}; moving to backup node {backup.node_id}"
    if dep.funding == m.FUNDING_MANAGED:
        if deps.relay is None:
            raise NoRelay("a managed payer's failover needs the relay")
        await status.begin_failover(session, dep, reason)
        await deps.relay.queue(session, dep, dead, m.REQ_CLOSE)
        await deps.relay.advance(session, dep.payer)
    else:
        txs = await _wallet_txs(dep, dead_lease_id, backup, deps)
        row.transactions = [t.to_json() for t in txs]
        await status.begin_failover(
            session,
            dep,
            f"{reason}; sign {len(txs)} txs: close lease {dead_lease_id}, open on chain node "
            f"{backup.chain_node_id} (transactions in this event)",
        )
    row.transition_id = await session.scalar(
        select(m.DeploymentTransition.id)
        .where(m.DeploymentTransition.deployment_id == dep.id)
        .order_by(m.DeploymentTransition.id.desc())
        .limit(1)
    )
    row.reason = reason[:200]
    await session.flush()
    return row


async def _wallet_txs(
    dep: m.Deployment, dead_lease_id: int, backup: m.Lease, deps: FailoverDeps
) -> list[UnsignedTx]:
    info = await deps.escrow.lease(dead_lease_id)
    due = await deps.escrow.due_now(dead_lease_id) if info.open else 0
    deposit = CreditUnits(max(backup.rate_per_second, info.balance - due))
    backup.deposit = deposit
    wallet = EscrowTxs(deps.escrow, deps.token, deps.chain_id, dep.payer, deps.quoter)
    txs = [
        wallet.close(dead_lease_id, f"close the dead primary's lease {dead_lease_id} (refunds its balance)")
    ]
    txs += await wallet.approve_if_short(deposit, "allow the escrow to take the backup's deposit")
    txs.append(
        await wallet.open(
            backup.chain_node_id,
            CreditUnits(backup.rate_per_second),
            deposit,
            bytes.fromhex(dep.spec_hash[2:]),
            f"open the backup's lease for replica {backup.replica_index}",
            lease=backup,
        )
    )
    return txs


STOPPED_PROVIDER_STATUSES = ("Suspended", "Exiting")


async def stopped_on_chain(session: AsyncSession, node_ids: list[int]) -> dict[int, str]:
    """The nodes among ``node_ids`` that stopped being active on chain, with why: removed
    (``NodeRemoved``) or their provider suspended / exiting (``ProviderSuspended`` / ``ExitRequested``,
    each with ``ProviderDeactivated``). Their leases accrue nothing more (issue 10): their replicas move."""
    if not node_ids:
        return {}
    rows = (
        await session.execute(
            select(Node.id, Node.status, ProviderChainState.status)
            .outerjoin(ProviderChainState, ProviderChainState.address == Node.wallet_address)
            .where(Node.id.in_(node_ids))
        )
    ).all()
    out: dict[int, str] = {}
    for node_id, node_status, provider_status in rows:
        if node_status == NODE_REMOVED:
            out[int(node_id)] = "node removed on chain"
        elif provider_status in STOPPED_PROVIDER_STATUSES:
            out[int(node_id)] = f"provider {provider_status.lower()} on chain"
    return out


async def candidates(
    session: AsyncSession, *, now: datetime, chain_now: int, policy: LivenessPolicy
) -> list[Candidate]:
    """Open primary leases that should fail over now (module docs), one per deployment."""
    rows = (
        await session.execute(
            select(m.Lease, m.Deployment.id)
            .join(m.Deployment, m.Deployment.id == m.Lease.deployment_id)
            .where(
                m.Deployment.status.in_(WATCHED),
                m.Lease.status.in_((m.LEASE_OPEN, m.RESERVED)),
                m.Lease.role.in_((m.PRIMARY, m.BACKUP)),
            )
            .order_by(m.Lease.deployment_id, m.Lease.replica_index)
        )
    ).all()
    by_dep: dict[int, list[m.Lease]] = {}
    for lease, dep_id in rows:
        by_dep.setdefault(int(dep_id), []).append(lease)
    nodes = sorted({x.node_id for leases in by_dep.values() for x in leases})
    healthy = await node_health(session, nodes, now=now, policy=policy)
    busy = await nodes_in_maintenance(session, chain_now, chain_now + 1)
    stopped = await stopped_on_chain(session, nodes)
    out = []
    for dep_id, leases in by_dep.items():
        spare = [x for x in leases if x.role == m.BACKUP and x.status == m.RESERVED]
        if (
            not spare
            or not healthy[spare[0].node_id].online
            or spare[0].node_id in busy
            or spare[0].node_id in stopped
        ):
            continue
        for x in leases:
            if x.role != m.PRIMARY or x.status != m.LEASE_OPEN:
                continue
            if x.node_id in stopped:
                out.append(Candidate(dep_id, x.id, stopped[x.node_id]))
                break
            if x.stopped_at is not None:
                out.append(Candidate(dep_id, x.id, "stopped on chain"))
                break
            if x.node_id in busy:
                out.append(Candidate(dep_id, x.id, "entered maintenance"))
                break
            if not healthy[x.node_id].online:
                out.append(Candidate(dep_id, x.id, f"missed heartbeats for over {policy.offline_after}s"))
                break
    return out


async def progress(
    session: AsyncSession, deps: FailoverDeps, *, now: datetime, paused: bool = False
) -> list[int]:
    """Move active failovers on (module docs, steps 4-5); returns the deployments whose status moved.
    ``paused``: the escrow is paused, so no backup open is queued yet."""
    rows = (
        await session.scalars(select(Failover).where(Failover.status.in_(FO_ACTIVE)).order_by(Failover.id))
    ).all()
    moved: list[int] = []
    for row in rows:
        dep = await session.get(m.Deployment, row.deployment_id)
        dead = await session.get(m.Lease, row.from_lease_row_id)
        new = await session.get(m.Lease, row.to_lease_row_id)
        assert dep is not None and dead is not None and new is not None
        if dep.status in (status.CLOSING, status.CLOSED, status.FAILED):
            row.status = FO_FAILED
            continue
        if (
            row.status == FO_CLOSING
            and dep.funding == m.FUNDING_MANAGED
            and dead.status == m.LEASE_CLOSED
            and not paused
        ):
            refund = int(dead.refund or 0)
            if refund < new.rate_per_second:
                row.status = FO_FAILED
                new.status = m.LEASE_CANCELLED
                if await status.fail(session, dep, "failover: nothing left to fund the backup"):
                    moved.append(dep.id)
                continue
            new.deposit = refund
            assert deps.relay is not None
            await deps.relay.queue(session, dep, new, m.REQ_OPEN)
            await deps.relay.advance(session, dep.payer)
            row.status = FO_OPENING
            row.updated_at = now
        if new.status == m.LEASE_OPEN and dep.status == status.FAILING_OVER:
            if await _finish(session, dep, row, now=now, policy=deps.liveness):
                moved.append(dep.id)
    await session.flush()
    return moved


async def _finish(
    session: AsyncSession, dep: m.Deployment, row: Failover, *, now: datetime, policy: LivenessPolicy
) -> bool:
    primaries = (
        await session.scalars(
            select(m.Lease).where(
                m.Lease.deployment_id == dep.id, m.Lease.role == m.PRIMARY, m.Lease.status == m.LEASE_OPEN
            )
        )
    ).all()
    states = {
        s.lease_row_id: s.state
        for s in (
            await session.scalars(
                select(wm.WorkloadState).where(wm.WorkloadState.lease_row_id.in_([x.id for x in primaries]))
            )
        ).all()
    }
    if states.get(row.to_lease_row_id) != wm.W_RUNNING:
        return False
    online = await node_health(session, sorted({x.node_id for x in primaries}), now=now, policy=policy)
    reports = [
        (workload_id(dep.id, x.replica_index), states.get(x.id), online[x.node_id].online) for x in primaries
    ]
    to, why = health.verdict(status.FAILING_OVER, reports)
    if to == status.FAILING_OVER:
        return False
    row.status = FO_DONE
    row.updated_at = now
    return await status.move(session, dep, to, f"failover of replica {row.replica_index} done; {why}")


async def run(
    sessionmaker: async_sessionmaker[AsyncSession],
    hub: Hub | None,
    deps: FailoverDeps,
    *,
    now: datetime | None = None,
) -> dict[str, int]:
    """The ``deployments.failover`` job (and what tests call): fail over every candidate (each in its own
    transaction), then move active failovers on; wake-ups are published after each commit."""
    now = now or utcnow()
    chain_now = int((await deps.escrow.w3.eth.get_block("latest"))["timestamp"])
    paused = await deps.escrow.paused()
    found: list[Candidate] = []
    if not paused:  # the backup's open would revert: start nothing until unpaused
        async with sessionmaker() as session:
            found = await candidates(session, now=now, chain_now=chain_now, policy=deps.liveness)
    started = 0
    for c in found:
        started += int(await trigger(sessionmaker, hub, deps, c.lease_row_id, c.why) is not None)
    async with sessionmaker() as session:
        async with session.begin():
            moved = await progress(session, deps, now=now, paused=paused)
        await publish_noted(hub, session)
    return {"candidates": len(found), "started": started, "finished": len(moved), "paused": int(paused)}


async def fail_over_stopped(
    sessionmaker: async_sessionmaker[AsyncSession],
    hub: Hub | None,
    deps: FailoverDeps,
    lease_row_ids: list[int],
    *,
    now: datetime | None = None,
) -> int:
    """Fail over those of ``lease_row_ids`` (leases just recorded as stopped on chain) that are failover
    candidates now (:func:`candidates`: a reserved backup on a live node); the others wait for the
    ``deployments.failover`` job. Nothing while the escrow is paused. Returns how many started."""
    if not lease_row_ids or await deps.escrow.paused():
        return 0
    chain_now = int((await deps.escrow.w3.eth.get_block("latest"))["timestamp"])
    async with sessionmaker() as session:
        found = await candidates(session, now=now or utcnow(), chain_now=chain_now, policy=deps.liveness)
    wanted = set(lease_row_ids)
    started = 0
    for c in found:
        if c.lease_row_id in wanted:
            started += int(await trigger(sessionmaker, hub, deps, c.lease_row_id, c.why) is not None)
    return started


async def trigger(
    sessionmaker: async_sessionmaker[AsyncSession],
    hub: Hub | None,
    deps: FailoverDeps,
    lease_row_id: int,
    why: str,
) -> int | None:
    """Fail ``lease_row_id`` over in its own transaction; the new failover's id, or ``None``."""
    async with sessionmaker() as session:
        async with session.begin():
            row = await fail_over(session, lease_row_id, why, deps)
            out = None if row is None else row.id
        await publish_noted(hub, session)
    return out


async def transactions_for(session: AsyncSession, transition_ids: list[int]) -> dict[int, Any]:
    """Unsigned txs a wallet user must sign, by the failover transition that asked for them."""
    if not transition_ids:
        return {}
    rows = await session.scalars(
        select(Failover).where(Failover.transition_id.in_(transition_ids), Failover.transactions.is_not(None))
    )
    return {f.transition_id: f.transactions for f in rows.all() if f.transition_id is not None}
