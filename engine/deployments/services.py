"""Deployment lifecycle in the database: plan (quote + placement), record, transition, query.

No chain access here: the commands (:mod:`engine.deployments.commands`) turn a plan into unsigned
transactions (wallet-connected payers) or queue :class:`~engine.deployments.models.EscrowRequest` rows the
relay signs (managed payers); indexed escrow events move leases and deployments on
(:mod:`engine.deployments.events`).

Quote: each replica's rate is placement's quote on its node (operator floors x resources, certified
premium); the platform fee is the escrow's ``feeBps`` share of it, shown separately (part of the rate) and
computed with the escrow's own rounding (:func:`engine.placement.pricing.settlement_split`): per second
(one second settled alone) and for the whole deposit (settled at once).
Deposit per replica: ``deposit_per_replica`` as given, or ``rate * duration_seconds`` for that replica; at
most :data:`MAX_DEPOSIT` (the BIGINT column cap, below the escrow's uint96 balance field).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils.address import to_checksum_address
from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from engine.deployments import models as m
from engine.deployments import status
from engine.deployments.errors import AccountBlocked, BadFunding, DeploymentNotFound, NoPayer
from engine.deployments.spec import DeploymentSpec, canonical_json, spec_hash
from engine.identity.models import WalletLink
from engine.money import MAX_CREDIT_UNITS, Bps, CreditUnits
from engine.nodes.models import Node
from engine.payments.services import can_create_deployments
from engine.placement import NodeCandidate, Placement, PricingPolicy
from engine.placement import store as placement_store
from engine.placement.pricing import settlement_split
from engine.settings import Settings
from engine.workloads.heartbeats import LivenessPolicy

MAX_DEPOSIT = MAX_CREDIT_UNITS  # the leases.deposit column (BIGINT); the escrow's field is wider (uint96)


@dataclass(frozen=True)
class ReplicaPlan:
    replica_index: int
    role: str
    chain_node_id: int
    provider: str
    region: str
    rate_per_second: CreditUnits
    platform_fee_per_second: CreditUnits
    deposit: CreditUnits


@dataclass(frozen=True)
class DeploymentQuote:
    """What a deployment costs: per-replica rates (the platform fee is part of each rate, shown apart) and
    deposits, in credit units (per second for rates)."""

    rate_per_replica: tuple[CreditUnits, ...]
    platform_fee_bps: Bps
    platform_fee_per_second: CreditUnits
    provider_per_second: CreditUnits
    total_rate_per_second: CreditUnits
    deposit_per_replica: tuple[CreditUnits, ...]
    total_deposit: CreditUnits
    # the deposits' split when each lease is settled in one go (each further settlement of a lease moves
    # at most one unit from the provider to the fee: the escrow rounds every settlement's fee)
    platform_fee_of_deposit: CreditUnits
    provider_of_deposit: CreditUnits


@dataclass(frozen=True)
class Plan:
    spec: DeploymentSpec
    spec_hash: bytes
    replicas: tuple[ReplicaPlan, ...]  # primaries, then the backup (role backup, deposit 0) if any
    fee_bps: Bps
    eligible: int
    considered: int

    @property
    def primaries(self) -> tuple[ReplicaPlan, ...]:
        return tuple(r for r in self.replicas if r.role == m.PRIMARY)

    @property
    def total_rate(self) -> CreditUnits:
        return CreditUnits(sum(r.rate_per_second for r in self.primaries))

    @property
    def total_deposit(self) -> CreditUnits:
        return CreditUnits(sum(r.deposit for r in self.primaries))

    @property
    def quote(self) -> DeploymentQuote:
        prim = self.primaries
        fee = CreditUnits(sum(r.platform_fee_per_second for r in prim))
        deposit_fee = CreditUnits(
            sum(settlement_split(r.deposit, 1, self.fee_bps).platform_fee for r in prim)
        )
        return DeploymentQuote(
            rate_per_replica=tuple(r.rate_per_second for r in prim),
            platform_fee_bps=self.fee_bps,
            platform_fee_per_second=fee,
            provider_per_second=CreditUnits(self.total_rate - fee),
            total_rate_per_second=self.total_rate,
            deposit_per_replica=tuple(r.deposit for r in prim),
            total_deposit=self.total_deposit,
            platform_fee_of_deposit=deposit_fee,
            provider_of_deposit=CreditUnits(self.total_deposit - deposit_fee),
        )


async def check_account(session: AsyncSession, user_id: int) -> None:
    ok, reason = await can_create_deployments(session, user_id)
    if not ok:
        raise AccountBlocked(user_id, reason or "account flagged")


async def placement_clock(
    session: AsyncSession, settings: Settings, *, now: int, horizon: int = 0
) -> placement_store.Clock:
    """Chain time ``now``, maintenance over ``horizon`` seconds, liveness from the settings."""
    return await placement_store.clock(
        session, now=now, horizon=horizon, liveness=LivenessPolicy.from_settings(settings)
    )


async def live_candidates(
    session: AsyncSession, settings: Settings, *, now: int, horizon: int = 0
) -> list[NodeCandidate]:
    """Every placement candidate (chain time ``now``, maintenance over ``horizon`` seconds, liveness from
    the settings) with what live leases already hold on each node: the input of scaling. One statement
    (:func:`engine.placement.store.live_candidates`); creation places without loading them all
    (:func:`place_live`)."""
    return await placement_store.live_candidates(
        session, await placement_clock(session, settings, now=now, horizon=horizon)
    )


async def place_live(
    session: AsyncSession,
    settings: Settings,
    spec: DeploymentSpec,
    pricing: PricingPolicy,
    *,
    now: int,
    horizon: int = 0,
) -> Placement:
    """Place ``spec`` on the nodes as they are now: filters and score in SQL, ``place`` on a short list
    (:func:`engine.placement.store.place_live`). Raises ``NoNodeFits``."""
    c = await placement_clock(session, settings, now=now, horizon=horizon)
    return await placement_store.place_live(session, spec, pricing, c)


def split_evenly(amount: CreditUnits, parts: int) -> list[CreditUnits]:
    """``amount`` in ``parts`` shares that differ by at most ``parts - 1`` units; the remainder goes to
    the first share. ``parts >= 1``."""
    shares = [CreditUnits(amount // parts)] * parts
    shares[0] = CreditUnits(shares[0] + amount - sum(shares))
    return shares


def check_funding(deposit_per_replica: CreditUnits | None, duration_seconds: int | None) -> None:
    """Exactly one of the two; raises :class:`BadFunding`."""
    if (deposit_per_replica is None) == (duration_seconds is None):
        raise BadFunding("funding", "give exactly one of deposit_per_replica and duration_seconds")


def plan(
    spec: DeploymentSpec,
    placement: Placement,
    pricing: PricingPolicy,
    *,
    deposit_per_replica: CreditUnits | None,
    duration_seconds: int | None,
) -> Plan:
    """Quote a placement; raises :class:`BadFunding`. Pure."""
    check_funding(deposit_per_replica, duration_seconds)
    fee_bps = Bps(pricing.platform_fee_bps)
    rows: list[ReplicaPlan] = []
    for i, p in enumerate(placement.primaries):
        rate = CreditUnits(p.rate_per_second)
        deposit = CreditUnits(
            deposit_per_replica if deposit_per_replica is not None else rate * (duration_seconds or 0)
        )
        if deposit < p.rate_per_second:
            raise BadFunding(
                "deposit_too_low",
                "the deposit must cover at least one second",
                deposit=deposit,
                rate_per_second=p.rate_per_second,
            )
        if deposit > MAX_DEPOSIT:
            raise BadFunding(
                "deposit_too_high",
                "the deposit is above the largest amount a lease can hold",
                deposit=deposit,
            )
        fee = CreditUnits(settlement_split(rate, 1, fee_bps).platform_fee)
        rows.append(ReplicaPlan(i, m.PRIMARY, int(p.node_id), p.provider_id, p.region, rate, fee, deposit))
    if placement.backup is not None:
        b = placement.backup
        rate = CreditUnits(b.rate_per_second)
        fee = CreditUnits(settlement_split(rate, 1, fee_bps).platform_fee)
        rows.append(
            ReplicaPlan(0, m.BACKUP, int(b.node_id), b.provider_id, b.region, rate, fee, CreditUnits(0))
        )
    return Plan(spec, spec_hash(spec), tuple(rows), fee_bps, placement.eligible, placement.considered)


async def choose_payer(session: AsyncSession, user_id: int, wallet: str | None) -> tuple[str, str]:
    """``(address, funding)``: the named wallet, else the first wallet-connected link, else the managed
    wallet. Raises :class:`NoPayer`."""
    links = list(
        (
            await session.scalars(
                select(WalletLink).where(WalletLink.user_id == user_id).order_by(WalletLink.id)
            )
        ).all()
    )
    if wallet is not None:
        want = to_checksum_address(wallet)
        for link in links:
            if link.address == want:
                return link.address, m.FUNDING_MANAGED if link.kind == "managed" else m.FUNDING_WALLET
        raise NoPayer(user_id, want)
    for link in links:
        if link.kind != "managed":
            return link.address, m.FUNDING_WALLET
    for link in links:
        return link.address, m.FUNDING_MANAGED
    raise NoPayer(user_id, None)


async def transition(session: AsyncSession, dep: m.Deployment, to: str, reason: str) -> None:
    """Move ``dep`` through the status machine (:func:`engine.deployments.status.move`: checked against
    the transition table, stored with ``reason``, wake-ups noted for the caller to publish after commit)."""
    await status.move(session, dep, to, reason)


async def record(
    session: AsyncSession, *, user_id: int, the_plan: Plan, payer: str, funding: str
) -> tuple[m.Deployment, list[m.Lease]]:
    """Insert the deployment (``funding``), its leases (``awaiting_funds``; the backup ``reserved``) and
    the first transition. Flushes, does not commit."""
    spec_json = json_spec(the_plan.spec)
    dep = m.Deployment(
        user_id=user_id,
        spec=spec_json,
        spec_hash="0x" + the_plan.spec_hash.hex(),
        status=m.FUNDING,
        replicas=len(the_plan.primaries),
        rate_per_second=the_plan.total_rate,
        payer=payer,
        funding=funding,
    )
    session.add(dep)
    await session.flush()
    session.add(
        m.DeploymentTransition(deployment_id=dep.id, from_status=None, to_status=m.FUNDING, reason="created")
    )
    chain_ids = [r.chain_node_id for r in the_plan.replicas]
    nodes = {
        int(n.chain_node_id): n.id
        for n in (await session.scalars(select(Node).where(Node.chain_node_id.in_(chain_ids)))).all()
        if n.chain_node_id is not None
    }
    leases = []
    for r in the_plan.replicas:
        lease = m.Lease(
            deployment_id=dep.id,
            replica_index=r.replica_index,
            role=r.role,
            node_id=nodes[r.chain_node_id],
            chain_node_id=r.chain_node_id,
            rate_per_second=r.rate_per_second,
            deposit=r.deposit,
            status=m.AWAITING_FUNDS if r.role == m.PRIMARY else m.RESERVED,
        )
        session.add(lease)
        leases.append(lease)
    await session.flush()
    return dep, leases


def json_spec(spec: DeploymentSpec) -> dict[str, Any]:
    """The stored spec: its canonical form (what the spec hash commits to)."""
    import json

    out: dict[str, Any] = json.loads(canonical_json(spec))
    return out


async def get_own(session: AsyncSession, user_id: int, deployment_id: int) -> m.Deployment:
    dep = await session.get(m.Deployment, deployment_id)
    if dep is None or dep.user_id != user_id:
        raise DeploymentNotFound(deployment_id)
    return dep


# the hot read (GET /api/cloud-user/deployments): one Core SELECT, built once, bound per call
_DEPLOYMENTS = m.Deployment.__table__
_LEASES = m.Lease.__table__
_DEPLOYMENT_COLUMNS = len(m.DeploymentRow._fields)


def _own_page_statement(*, before: bool) -> Select[Any]:
    """A page of a user's deployments (a subquery: ``LIMIT`` counts deployments, not leases) joined to their
    leases, in :data:`_LEASES_OF` order within each deployment."""
    where = [_DEPLOYMENTS.c.user_id == bindparam("user_id")]
    if before:
        where.append(_DEPLOYMENTS.c.id < bindparam("before_id"))
    page = (
        select(*(_DEPLOYMENTS.c[name] for name in m.DeploymentRow._fields))
        .where(*where)
        .order_by(_DEPLOYMENTS.c.id.desc())
        .limit(bindparam("limit"))
        .subquery("page")
    )
    return (
        select(*page.c, *(_LEASES.c[name] for name in m.LeaseRow._fields))
        .select_from(page.outerjoin(_LEASES, _LEASES.c.deployment_id == page.c.id))
        .order_by(page.c.id.desc(), _LEASES.c.role.desc(), _LEASES.c.replica_index)
    )


_OWN_FIRST = _own_page_statement(before=False)
_OWN_BEFORE = _own_page_statement(before=True)
_LEASES_OF = (
    select(m.Lease)
    .where(m.Lease.deployment_id.in_(bindparam("ids", expanding=True)))
    .order_by(m.Lease.deployment_id, m.Lease.role.desc(), m.Lease.replica_index)
)


async def own_page(
    db: AsyncConnection, user_id: int, *, limit: int, before_id: int | None = None
) -> list[tuple[m.DeploymentRow, list[m.LeaseRow]]]:
    """The user's deployments, newest first, each with its leases (ordered as :func:`leases_of` orders
    them): at most ``limit`` deployments, with an id below ``before_id``. One SELECT, no ORM objects."""
    if before_id is None:
        result = await db.execute(_OWN_FIRST, {"user_id": user_id, "limit": limit})
    else:
        result = await db.execute(_OWN_BEFORE, {"user_id": user_id, "limit": limit, "before_id": before_id})
    out: list[tuple[m.DeploymentRow, list[m.LeaseRow]]] = []
    leases: list[m.LeaseRow] = []
    last = None
    for row in result:
        if row[0] != last:
            last, leases = row[0], []
            out.append((m.DeploymentRow._make(row[:_DEPLOYMENT_COLUMNS]), leases))
        if row[_DEPLOYMENT_COLUMNS] is not None:  # the lease id: None when the deployment has no lease
            leases.append(m.LeaseRow._make(row[_DEPLOYMENT_COLUMNS:]))
    return out


async def leases_of(session: AsyncSession, deployment_ids: Sequence[int]) -> dict[int, list[m.Lease]]:
    out: dict[int, list[m.Lease]] = {i: [] for i in deployment_ids}
    if not deployment_ids:
        return out
    for lease in (await session.scalars(_LEASES_OF, {"ids": list(deployment_ids)})).all():
        out[lease.deployment_id].append(lease)
    return out


async def transitions_of(session: AsyncSession, deployment_id: int) -> list[m.DeploymentTransition]:
    stmt = (
        select(m.DeploymentTransition)
        .where(m.DeploymentTransition.deployment_id == deployment_id)
        .order_by(m.DeploymentTransition.id)
    )
    return list((await session.scalars(stmt)).all())


async def tenants_of(session: AsyncSession, node_id: int) -> Sequence[int]:
    """``engine.nodes.linking.TenantsOf``: users with a live lease on database node ``node_id``."""
    stmt = (
        select(m.Deployment.user_id)
        .join(m.Lease, m.Lease.deployment_id == m.Deployment.id)
        .where(
            m.Lease.node_id == node_id,
            m.Lease.status.in_((m.AWAITING_FUNDS, m.LEASE_OPEN)),
            m.Deployment.status.in_(status.LIVE),
        )
        .distinct()
    )
    return [int(u) for u in (await session.scalars(stmt)).all()]


async def count_deployments(session: AsyncSession, user_id: int) -> int:
    stmt = select(func.count()).select_from(m.Deployment).where(m.Deployment.user_id == user_id)
    return int(await session.scalar(stmt) or 0)


async def settle_status(session: AsyncSession, dep: m.Deployment, reason: str) -> None:
    """Derive the deployment status from its primary leases after a chain event."""
    leases = [x for x in (await leases_of(session, [dep.id]))[dep.id] if x.role == m.PRIMARY]
    live = [x for x in leases if x.status in (m.AWAITING_FUNDS, m.LEASE_OPEN)]
    if not live and dep.status not in status.TERMINAL:
        await transition(session, dep, m.CLOSED, reason)
        for x in (await leases_of(session, [dep.id]))[dep.id]:
            if x.status == m.RESERVED:
                x.status = m.LEASE_CANCELLED
    elif dep.status == m.FUNDING and leases and all(x.status == m.LEASE_OPEN for x in leases):
        await transition(session, dep, m.STARTING, "every lease opened on chain")
