"""The deployment status machine: the statuses, the allowed transitions (one table), and :func:`move`,
the only way a deployment's status changes.

::

    pending ─> funding ─> placing ─> starting ─> running <─> degraded
                  │          │          │           │           │
                  │          │          └───────────┴─> failing-over ─> starting | running | degraded
                  │          │
                  └──────────┴──────── any live status ─> closing ─> closed
                  │                    any live status ─> failed ─> closing | closed
                  └─(not funded within the reservation TTL)─> expired

* ``pending``: recorded, not yet quoted/placed (reserved for asynchronous placement; creation today
  plans synchronously and starts in ``funding``).
* ``funding``: placed; waiting for every primary lease to be opened on chain (H18's first status).
* ``placing``: a replica is being (re)placed: scale-up or a new node chosen after a failure.
* ``starting``: every primary lease is open; waiting for the agents to report ``running``.
* ``running``: every primary workload reports ``running`` on an online node.
* ``degraded``: some primary replica is not running (crashed, exited, rejected) or its node is offline.
* ``failing-over``: a primary's workload moves to the backup node (:func:`begin_failover`).
* ``closing``: close requested; leases are being closed on chain. ``closed``: no live lease left.
* ``failed``: cannot run (e.g. every node rejected the spec, or a relayed open reverted: the reason is
  the transition's); leases still open go through ``closing``.
* ``expired``: never funded within ``reservation_ttl`` seconds (:mod:`engine.deployments.lifecycle`); its
  reservations are released. Terminal: a lease opened for it later is closed and refunded.

Every transition is stored in ``deployment_transitions`` with a reason, and the deployment topic (and
the nodes of its leases, whose desired set may change) are noted for a wake-up after the commit
(:mod:`engine.workloads.wakeups`): the caller owning the transaction publishes them.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.deployments import models as m
from engine.deployments.errors import DeploymentError
from engine.errors import Kind
from engine.workloads.wakeups import note_deployment, note_node

PENDING = "pending"
FUNDING = m.FUNDING
PLACING = "placing"
STARTING = m.STARTING
RUNNING = "running"
DEGRADED = "degraded"
FAILING_OVER = "failing-over"
CLOSING = m.CLOSING
CLOSED = m.CLOSED
FAILED = "failed"
EXPIRED = m.EXPIRED

STATUSES: tuple[str, ...] = (
    PENDING,
    FUNDING,
    PLACING,
    STARTING,
    RUNNING,
    DEGRADED,
    FAILING_OVER,
    CLOSING,
    CLOSED,
    FAILED,
    EXPIRED,
)
TERMINAL = frozenset({CLOSED, EXPIRED})
# statuses after which a lease opened on chain is an orphan: closed by the engine at once and refunded
ENDED = frozenset({CLOSING, CLOSED, EXPIRED, FAILED})
# statuses whose open leases a node should run (the desired set); closing/closed/failed stop workloads
RUNNABLE = frozenset({FUNDING, PLACING, STARTING, RUNNING, DEGRADED, FAILING_OVER})
# statuses in which the user may top up open leases
TOP_UP_OK = RUNNABLE
# statuses with leases that may still hold resources or funds
LIVE = frozenset(STATUSES) - TERMINAL

_ENDINGS = frozenset({CLOSING, CLOSED, FAILED})
TRANSITIONS: Mapping[str, frozenset[str]] = {
    PENDING: frozenset({FUNDING, PLACING}) | _ENDINGS,
    FUNDING: frozenset({PLACING, STARTING, EXPIRED}) | _ENDINGS,
    PLACING: frozenset({FUNDING, STARTING}) | _ENDINGS,
    STARTING: frozenset({RUNNING, DEGRADED, PLACING, FAILING_OVER}) | _ENDINGS,
    RUNNING: frozenset({DEGRADED, PLACING, STARTING, FAILING_OVER}) | _ENDINGS,
    DEGRADED: frozenset({RUNNING, PLACING, STARTING, FAILING_OVER}) | _ENDINGS,
    FAILING_OVER: frozenset({STARTING, RUNNING, DEGRADED}) | _ENDINGS,
    CLOSING: frozenset({CLOSED}),
    CLOSED: frozenset(),
    FAILED: frozenset({CLOSING, CLOSED}),
    EXPIRED: frozenset(),
}


class IllegalTransition(DeploymentError):
    """``from_status -> to_status`` is not in :data:`TRANSITIONS`: our bug, never the caller's (500)."""

    code = "illegal_transition"
    kind = Kind.INTERNAL

    def __init__(self, deployment_id: int | None, from_status: str | None, to_status: str) -> None:
        super().__init__(f"deployment {deployment_id}: {from_status} -> {to_status} is not allowed")
        self.deployment_id = deployment_id
        self.from_status = from_status
        self.to_status = to_status


def allowed(from_status: str | None, to_status: str) -> bool:
    """Whether the table allows it (``None`` -> ``pending``/``funding``: a new deployment)."""
    if from_status is None:
        return to_status in (PENDING, FUNDING)
    return to_status in TRANSITIONS.get(from_status, frozenset())


def check(from_status: str | None, to_status: str, deployment_id: int | None = None) -> None:
    """Raise :class:`IllegalTransition` unless allowed. A move to the same status is no transition."""
    if to_status not in STATUSES:
        raise IllegalTransition(deployment_id, from_status, to_status)
    if from_status != to_status and not allowed(from_status, to_status):
        raise IllegalTransition(deployment_id, from_status, to_status)


async def move(session: AsyncSession, dep: m.Deployment, to: str, reason: str) -> bool:
    """Change ``dep``'s status to ``to`` (checked), store the transition with ``reason`` and note the
    wake-ups. Returns False (and stores nothing) when it already has that status. Flushes."""
    if dep.status == to:
        return False
    check(dep.status, to, dep.id)
    session.add(
        m.DeploymentTransition(
            deployment_id=dep.id, from_status=dep.status, to_status=to, reason=reason[:200]
        )
    )
    dep.status = to
    dep.updated_at = m.utcnow()
    note_deployment(session, dep.id)
    for node_id in (
        await session.scalars(select(m.Lease.node_id).where(m.Lease.deployment_id == dep.id).distinct())
    ).all():
        note_node(session, node_id)
    await session.flush()
    return True


async def begin_failover(session: AsyncSession, dep: m.Deployment, reason: str) -> bool:
    """Enter ``failing-over`` (for the failover work); False when already there."""
    return await move(session, dep, FAILING_OVER, reason)


async def fail(session: AsyncSession, dep: m.Deployment, reason: str) -> bool:
    """Enter ``failed``."""
    return await move(session, dep, FAILED, reason)


async def transitions_after(
    session: AsyncSession, deployment_id: int, after_id: int, *, limit: int = 500
) -> list[m.DeploymentTransition]:
    """The deployment's transitions with a row id above ``after_id``, oldest first (SSE replay)."""
    stmt = (
        select(m.DeploymentTransition)
        .where(m.DeploymentTransition.deployment_id == deployment_id, m.DeploymentTransition.id > after_id)
        .order_by(m.DeploymentTransition.id)
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())
