"""Scaling a deployment: each replica is its own placement and its own on-chain lease.

Rules:

* **Who signs.** A managed-wallet deployment scales by itself: new leases get ``open`` escrow requests
  and removed ones ``close`` requests, which the :class:`~engine.relay.services.Relay` signs (EIP-712,
  managed key) and the backend signer relays through the outbox, one per payer at a time. A
  wallet-connected payer's leases can only be opened/closed by that wallet (or the provider): :func:`scale`
  returns the unsigned transactions (an ``approve`` when the allowance is short, one ``open`` per new
  replica; one ``close`` per removed replica) and records the leases as awaiting funds / retiring.
* **Scale up** places each new replica alone (``replicas=1``, no backup) with anti-affinity: nodes the
  deployment already uses (live primaries, leases awaiting funds, the reserved backup) are excluded, and
  so are their providers when another provider fits (else only the nodes). A new replica gets the next
  index after the highest in-service primary; its deposit covers as many seconds as the first in-service
  replica's deposit did (``deposit_per_replica`` overrides). The status goes ``placing`` → ``funding``;
  once every primary lease is open the indexer moves it to ``starting`` and the heartbeats to
  ``running``.
* **Scale down** removes the highest replica indexes first. A removed replica's lease is *retired*:
  ``role = "retired"``, ``replica_index = -(row id)`` (frees the index, keeps the unique constraint; the
  index it served under is kept in ``retired_index``, and that is what the API shows),
  status ``retiring`` when it is open on chain (the node stops it at once: it leaves the desired set; the
  lease is closed by request, and ``LeaseClosed`` makes it ``closed``) or ``cancelled`` when it was still
  awaiting funds. A scale-down records a transition with an unchanged status (the SSE stream shows it).
* **Bounds.** ``1 <= replicas <= max_replicas`` (operator settings); scaling applies in ``starting``,
  ``running`` and ``degraded`` only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chain.contracts import UnsignedTx
from engine.context import Context
from engine.deployments import models as m
from engine.deployments import services, status
from engine.deployments.errors import BadFunding, WrongState
from engine.deployments.spec import BackupConfig, DeploymentSpec, SpecLimits, parse_spec
from engine.deployments.transactions import EscrowTxs
from engine.money import CreditUnits
from engine.nodes.models import Node
from engine.operator.config import current_config, pricing_policy
from engine.placement import NodeCandidate, PlacedNode, PricingPolicy, place
from engine.placement.errors import NoNodeFits
from engine.relay.errors import NoRelay
from engine.relay.services import Relay
from engine.scaling.errors import BadReplicas
from engine.workloads.wakeups import note_deployment, note_node

SCALABLE = frozenset({status.STARTING, status.RUNNING, status.DEGRADED})
LIVE_LEASES = (m.AWAITING_FUNDS, m.LEASE_OPEN, m.RESERVED)


@dataclass(frozen=True)
class ScaleInputs:
    """What placing and funding a replica needs (built once per request or job run: :func:`scale_inputs`)."""

    pricing: PricingPolicy
    candidates: Sequence[NodeCandidate]
    max_replicas: int
    ctx: Context

    @property
    def relay(self) -> Relay | None:
        return self.ctx.relay


@dataclass
class ScaleResult:
    deployment: m.Deployment
    opened: list[m.Lease] = field(default_factory=list)  # new leases (awaiting funds)
    retired: list[m.Lease] = field(default_factory=list)  # removed leases (retiring / cancelled)
    transactions: list[UnsignedTx] = field(default_factory=list)  # wallet-connected payers only


async def scale_inputs(session: AsyncSession, ctx: Context) -> ScaleInputs:
    """Operator settings and pricing, the escrow's fee and the placement candidates with what live leases
    hold (the same inputs as deployment creation). Raises ``ContractMissing`` without an escrow."""
    operator, prices = await current_config(session, ctx.settings)
    fee_bps, _share, _tip = await ctx.contracts.require_escrow().fee_params()
    candidates = await services.live_candidates(session, ctx.settings, now=await ctx.chain_now())
    return ScaleInputs(pricing_policy(prices, fee_bps), candidates, operator.max_replicas, ctx)


def stored_spec(dep: m.Deployment) -> DeploymentSpec:
    """The deployment's spec parsed back from its stored canonical form (limits from the spec itself:
    it was validated at creation)."""
    raw = {k: v for k, v in (dep.spec or {}).items() if k != "v" and v is not None}
    res = raw.get("resources")
    if isinstance(res, dict):
        raw["resources"] = {k: v for k, v in res.items() if v is not None}
    gpu = ((raw.get("resources") or {}).get("gpu") or {}).get("model")
    limits = SpecLimits(
        known_regions=list(raw.get("regions") or []),
        known_gpu_models=[gpu] if gpu else [],
        max_replicas=max(int(raw.get("replicas", 1) or 1), 1),
    )
    return parse_spec(raw, limits)


def place_one(
    spec: DeploymentSpec, inputs: ScaleInputs, exclude_nodes: set[str], exclude_providers: set[str]
) -> PlacedNode:
    """One replica, anti-affine: other providers when one fits, else only other nodes. Raises
    ``NoNodeFits``."""
    single = dataclasses.replace(spec, replicas=1, backup=BackupConfig())
    try:
        return place(
            single,
            inputs.candidates,
            inputs.pricing,
            exclude_nodes=exclude_nodes,
            exclude_providers=exclude_providers,
        ).primaries[0]
    except NoNodeFits:
        if not exclude_providers:
            raise
    return place(single, inputs.candidates, inputs.pricing, exclude_nodes=exclude_nodes).primaries[0]


def retire(lease: m.Lease) -> None:
    """Take ``lease`` out of service (module docs). The caller queues / hands out its close."""
    lease.role = m.RETIRED
    if lease.replica_index >= 0:  # keep the index it served under (rendered instead of -id)
        lease.retired_index = lease.replica_index
    lease.replica_index = -lease.id
    lease.status = m.RETIRING if lease.status == m.LEASE_OPEN else m.LEASE_CANCELLED


async def record_note(session: AsyncSession, dep: m.Deployment, reason: str) -> m.DeploymentTransition:
    """A transition row that keeps the status (a scale-down, an autoscale recommendation): stored and
    streamed like any other."""
    row = m.DeploymentTransition(
        deployment_id=dep.id, from_status=dep.status, to_status=dep.status, reason=reason[:200]
    )
    session.add(row)
    note_deployment(session, dep.id)
    await session.flush()
    return row


def in_service(leases: Sequence[m.Lease]) -> list[m.Lease]:
    """Primary leases that count as replicas (awaiting funds or open), lowest index first."""
    return sorted(
        (x for x in leases if x.role == m.PRIMARY and x.status in (m.AWAITING_FUNDS, m.LEASE_OPEN)),
        key=lambda x: x.replica_index,
    )


async def scale(
    session: AsyncSession,
    dep: m.Deployment,
    replicas: int,
    inputs: ScaleInputs,
    *,
    deposit_per_replica: CreditUnits | None = None,
    reason: str = "scale requested",
) -> ScaleResult:
    """Scale ``dep`` to ``replicas`` in-service primaries (module docs). Flushes; nothing is meant to be
    kept when it raises (the caller rolls back).

    Raises: ``WrongState`` (409), ``BadReplicas`` (400), ``BadFunding`` (400 ``bad_deposit``),
    ``NoNodeFits`` (409 / 422), ``NoRelay`` (400), ``ContractMissing`` (503)."""
    if dep.status not in SCALABLE:
        raise WrongState(dep.id, dep.status, "scale")
    if not 1 <= replicas <= inputs.max_replicas:
        raise BadReplicas(f"replicas must be between 1 and {inputs.max_replicas}", replicas=replicas)
    leases = list(
        (
            await session.scalars(select(m.Lease).where(m.Lease.deployment_id == dep.id).with_for_update())
        ).all()
    )
    current = in_service(leases)
    result = ScaleResult(dep)
    if replicas > len(current):
        await _scale_up(session, dep, leases, current, replicas, inputs, deposit_per_replica, result, reason)
    elif replicas < len(current):
        await _scale_down(session, dep, current, replicas, inputs, result, reason)
    else:
        return result
    dep.replicas = replicas
    dep.rate_per_second = sum(x.rate_per_second for x in in_service(leases + result.opened))
    dep.updated_at = m.utcnow()
    await session.flush()
    if dep.funding == m.FUNDING_MANAGED and inputs.relay is not None:
        await inputs.relay.advance(session, dep.payer)
    return result


async def _scale_up(
    session: AsyncSession,
    dep: m.Deployment,
    leases: list[m.Lease],
    current: list[m.Lease],
    replicas: int,
    inputs: ScaleInputs,
    deposit_per_replica: CreditUnits | None,
    result: ScaleResult,
    reason: str,
) -> None:
    if dep.funding == m.FUNDING_MANAGED and inputs.relay is None:
        raise NoRelay()
    spec = stored_spec(dep)
    providers = {c.node_id: c.provider_id for c in inputs.candidates}
    used_nodes = {str(x.chain_node_id) for x in leases if x.status in LIVE_LEASES}
    used_providers = {providers[n] for n in used_nodes if n in providers}
    seconds = 1
    if current:
        seconds = max(1, current[0].deposit // max(1, current[0].rate_per_second))
    next_index = 1 + max((x.replica_index for x in leases if x.role == m.PRIMARY), default=-1)
    node_ids = {c.node_id: c for c in inputs.candidates}
    db_nodes = {
        int(n.chain_node_id): n.id
        for n in (await session.scalars(select(Node).where(Node.chain_node_id.is_not(None)))).all()
        if n.chain_node_id is not None and str(n.chain_node_id) in node_ids
    }
    for k in range(replicas - len(current)):
        placed = place_one(spec, inputs, used_nodes, used_providers)
        used_nodes.add(placed.node_id)
        used_providers.add(placed.provider_id)
        deposit = deposit_per_replica if deposit_per_replica is not None else placed.rate_per_second * seconds
        if deposit < placed.rate_per_second or deposit > services.MAX_DEPOSIT:
            raise BadFunding("bad_deposit", "the deposit must cover at least one second", deposit=deposit)
        lease = m.Lease(
            deployment_id=dep.id,
            replica_index=next_index + k,
            role=m.PRIMARY,
            node_id=db_nodes[int(placed.node_id)],
            chain_node_id=int(placed.node_id),
            rate_per_second=placed.rate_per_second,
            deposit=deposit,
            status=m.AWAITING_FUNDS,
        )
        session.add(lease)
        result.opened.append(lease)
    await session.flush()
    added = ", ".join(str(x.replica_index) for x in result.opened)
    await status.move(session, dep, status.PLACING, f"{reason}: {len(current)} -> {replicas} replicas")
    await status.move(session, dep, status.FUNDING, f"opening leases of replicas {added}")
    if dep.funding == m.FUNDING_MANAGED:
        assert inputs.relay is not None
        for lease in result.opened:
            await inputs.relay.queue(session, dep, lease, m.REQ_OPEN)
        return
    wallet = EscrowTxs.for_sender(inputs.ctx, dep.payer)
    total = CreditUnits(sum(x.deposit for x in result.opened))
    result.transactions += await wallet.approve_if_short(
        total, "allow the escrow to take the new replicas' deposits"
    )
    spec_hash = bytes.fromhex(dep.spec_hash[2:])
    for lease in result.opened:
        result.transactions.append(
            await wallet.open(
                lease.chain_node_id,
                CreditUnits(lease.rate_per_second),
                CreditUnits(lease.deposit),
                spec_hash,
                f"open the lease of replica {lease.replica_index}",
                lease=lease,
            )
        )


async def _scale_down(
    session: AsyncSession,
    dep: m.Deployment,
    current: list[m.Lease],
    replicas: int,
    inputs: ScaleInputs,
    result: ScaleResult,
    reason: str,
) -> None:
    victims = sorted(current, key=lambda x: x.replica_index, reverse=True)[: len(current) - replicas]
    names = [x.replica_index for x in victims]
    for lease in victims:
        was_open = lease.status == m.LEASE_OPEN
        retire(lease)
        await session.flush()  # one at a time: the unique (deployment, index, role) sees each change
        note_node(session, lease.node_id)
        result.retired.append(lease)
        if not was_open:
            continue
        if dep.funding == m.FUNDING_MANAGED:
            if inputs.relay is None:
                raise NoRelay("managed wallets cannot close leases here")
            await inputs.relay.queue(session, dep, lease, m.REQ_CLOSE)
        else:
            result.transactions.append(
                EscrowTxs.for_sender(inputs.ctx, dep.payer).close(
                    int(lease.chain_lease_id or 0),
                    f"close the lease of removed replica {names[len(result.retired) - 1]}",
                )
            )
    await record_note(
        session,
        dep,
        f"{reason}: {len(current)} -> {replicas} replicas; removed replicas "
        + ", ".join(str(i) for i in names),
    )
