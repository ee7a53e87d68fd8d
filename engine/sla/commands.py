"""SLA commands: the prober's round, the evaluation of closed periods, the outbox steps of a breach, and the
views of tenants, providers and the operator (arithmetic and identities: :mod:`engine.sla.services`).

A breach of (lease, period) goes, driven by :func:`evaluate_sla` (the ``sla.evaluate`` job)::

    record inserted (unique per lease and period)
    + seize(provider, min(rebate, collateral), ref, evidenceHash) enqueued + both parties notified
                                                                       [one transaction]   -> seizing
    seize final -> escrow allowance of the signer checked (one standing approve enqueued if short)
               -> escrow.topUp(lease, rebate) enqueued                                       -> crediting
    topUp confirmed                                                                            -> credited
    topUp failed (lease closed / depleted / its node stopped) -> token.transfer(payer, rebate) -> paying
    transfer confirmed -> paid; failed -> failed                          (steps: engine.sla.steps)

Why the signer tops the lease up from its own balance: the registry sends seized collateral to the
treasury (``seize`` has no recipient parameter, and the contracts are not changed here); the escrow's
``topUp(leaseId, amount)`` takes the amount from ``msg.sender`` for any lease, so the engine's signer (the
treasury by default: the seized collateral lands there) pays the rebate into the tenant's lease. The credit
waits until the seizure is final and the signer holds the rebate, and the escrow's allowance is one
standing ``approve(escrow, 2**256 - 1)`` (an OpenZeppelin infinite allowance is never spent down): an
approve and a top-up in the same sender batch would have the top-up's gas estimate revert.

Exactly once per (lease, period): the unique record row (a racing evaluation inserts nothing and enqueues
nothing), deterministic outbox keys (a re-run enqueues the same rows), and on chain the seize ref.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from engine.context import Context
from engine.deployments.models import LEASE_OPEN, Deployment, Lease
from engine.nodes.models import NODE_ACTIVE, WINDOW_SCHEDULED, MaintenanceWindow, Node
from engine.notifications.services import notify
from engine.operator.config import current_settings
from engine.outbox.services import enqueue
from engine.sla import models as m
from engine.sla import services as sv
from engine.sla.errors import BadEndpoint, SlaNotFound
from engine.sla.probe import Target, check_all, targets_for
from engine.sla.steps import advance_records
from engine.workloads.models import NodeLiveness

log = logging.getLogger(__name__)

LOOKBACK = 2  # closed periods judged on each run (a run missed while the job was down is caught up)
_HOST_RE = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


@dataclass(frozen=True)
class ProbeRound:
    at: int
    samples: int
    failed: int


@dataclass(frozen=True)
class Evaluation:
    at: int
    breaches: tuple[int, ...]  # record ids created by this run
    advanced: int  # records that moved a step


async def policy_of(session: AsyncSession, ctx: Context) -> sv.Policy:
    ops = await current_settings(session, ctx.settings)
    return sv.Policy(int(ops.sla_target_bps), int(ops.sla_period), tuple(ops.sla_credit_schedule))


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


# ---- endpoints ------------------------------------------------------------------------------------------


MAX_HOST = 253


@dataclass(frozen=True)
class ProbeEndpoint:
    node_id: int
    host: str | None  # None: not set (the node's leases are judged by heartbeats alone)
    updated_at: datetime | None


def check_host(host: str, *, production: bool) -> str:
    """``host`` if it is a DNS host name (RFC 1123 labels, at most 253 characters) or an IP literal (no
    brackets, no zone, no port, no scheme: not a URL); in production an IP literal must be a global address
    (the prober must not be pointed at the engine's own network). Raises :class:`BadEndpoint`."""
    if not host or len(host) > MAX_HOST or host != host.strip() or "%" in host:
        raise BadEndpoint(host[:MAX_HOST])
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if not _HOST_RE.match(host) or host.replace(".", "").isdigit():
            raise BadEndpoint(host) from None
        return host.lower()
    if production and not ip.is_global:
        raise BadEndpoint(host)
    return ip.compressed


async def _own_node(s: AsyncSession, provider_user_id: int, node_id: int) -> Node:
    node = await s.get(Node, node_id)
    if node is None or node.provider_user_id != provider_user_id:
        raise SlaNotFound("node", node_id)
    return node


async def set_probe_endpoint(ctx: Context, provider_user_id: int, node_id: int, host: str) -> ProbeEndpoint:
    """Where the prober connects for node ``node_id``'s workloads (the provider's own node only).

    Raises :class:`SlaNotFound` (not the caller's node), :class:`BadEndpoint` (not a host name or IP)."""
    host = check_host(host, production=ctx.settings.env == "production")
    async with ctx.sessionmaker() as s, s.begin():
        await _own_node(s, provider_user_id, node_id)
        row = await s.get(m.SlaEndpoint, node_id)
        now = ctx.clock()
        if row is None:
            s.add(m.SlaEndpoint(node_id=node_id, host=host, updated_at=now))
        else:
            row.host, row.updated_at = host, now
    return ProbeEndpoint(node_id, host, now)


async def probe_endpoint(ctx: Context, provider_user_id: int, node_id: int) -> ProbeEndpoint:
    """The probe host of the caller's node ``node_id`` (``host`` None: not set).

    Raises :class:`SlaNotFound` (not the caller's node)."""
    async with ctx.sessionmaker() as s:
        await _own_node(s, provider_user_id, node_id)
        row = await s.get(m.SlaEndpoint, node_id)
    if row is None:
        return ProbeEndpoint(node_id, None, None)
    return ProbeEndpoint(node_id, row.host, _aware(row.updated_at))


# ---- the prober -----------------------------------------------------------------------------------------


async def probe_round(ctx: Context, *, at: int | None = None, wall_now: datetime | None = None) -> ProbeRound:
    """One tick: a heartbeat sample per active node and per open lease (node silent for more than the
        operator's ``node_offline_after``: down), and a TCP check per declared port of each open lease whose
        node has a probe endpoint (TCP connect, or an HTTP request for ``http`` ports:
    :mod:`engine.sla.probe`). ``at``: chain time of the tick (default: the latest block's); ``wall_now``:
        the clock heartbeats are judged by (default ``ctx.clock()``). Raises nothing of its own."""
    at = at if at is not None else await ctx.chain_now()
    wall_now = wall_now or ctx.clock()
    span = int(ctx.settings.sla_probe_interval)
    async with ctx.sessionmaker() as s:
        offline_after = (await current_settings(s, ctx.settings)).node_offline_after
        leases = (
            await s.execute(
                select(Lease, Deployment.spec)
                .join(Deployment, Deployment.id == Lease.deployment_id)
                .where(
                    Lease.status == LEASE_OPEN, Lease.chain_lease_id.is_not(None), Lease.stopped_at.is_(None)
                )
                .order_by(Lease.id)
            )
        ).all()
        nodes = set((await s.scalars(select(Node.id).where(Node.status == NODE_ACTIVE))).all())
        nodes |= {lease.node_id for lease, _ in leases}
        seen = {
            r.node_id: _aware(r.last_seen_at)
            for r in (await s.scalars(select(NodeLiveness).where(NodeLiveness.node_id.in_(nodes)))).all()
        }
        hosts = {
            e.node_id: e.host
            for e in (await s.scalars(select(m.SlaEndpoint).where(m.SlaEndpoint.node_id.in_(nodes)))).all()
        }

    def alive(node_id: int) -> bool:
        last = seen.get(node_id)
        return last is not None and (wall_now - last).total_seconds() <= offline_after

    wanted: dict[int, list[Target]] = {}
    for lease, spec in leases:
        host = hosts.get(lease.node_id)
        if host is not None:
            wanted[lease.id] = targets_for(host, spec)
    results = await check_all(
        [t for ts in wanted.values() for t in ts], float(ctx.settings.sla_probe_timeout)
    )
    samples: list[m.SlaSample] = []
    for node_id in sorted(nodes):
        ok = alive(node_id)
        samples.append(
            m.SlaSample(
                node_id=node_id,
                source=m.HEARTBEAT,
                target="",
                at=at,
                span=span,
                ok=ok,
                detail="" if ok else "silent",
            )
        )
    for lease, _ in leases:
        ok = alive(lease.node_id)
        samples.append(
            m.SlaSample(
                node_id=lease.node_id,
                lease_row_id=lease.id,
                source=m.HEARTBEAT,
                target="",
                at=at,
                span=span,
                ok=ok,
                detail="" if ok else "silent",
            )
        )
        for t in wanted.get(lease.id, []):
            r = results[t]
            samples.append(
                m.SlaSample(
                    node_id=lease.node_id,
                    lease_row_id=lease.id,
                    source=m.PROBE,
                    target=t.name,
                    at=at,
                    span=span,
                    ok=r.ok,
                    detail=r.detail,
                )
            )
    async with ctx.sessionmaker() as s, s.begin():
        s.add_all(samples)
    return ProbeRound(at, len(samples), sum(1 for x in samples if not x.ok))


# ---- evaluation -----------------------------------------------------------------------------------------


async def _windows(s: AsyncSession, node_id: int, start: int, end: int) -> list[tuple[int, int]]:
    rows = await s.execute(
        select(MaintenanceWindow.start_at, MaintenanceWindow.end_at).where(
            MaintenanceWindow.node_id == node_id,
            MaintenanceWindow.status == WINDOW_SCHEDULED,
            MaintenanceWindow.start_at < end,
            MaintenanceWindow.end_at > start,
        )
    )
    return [(int(a), int(b)) for a, b in rows.all()]


async def _checks(s: AsyncSession, where: Any, start: int, end: int) -> list[sv.Check]:
    rows = await s.scalars(select(m.SlaSample).where(where, m.SlaSample.at >= start, m.SlaSample.at < end))
    return [sv.Check(x.at, x.span, x.ok, x.source, x.target) for x in rows.all()]


def _insert(session: AsyncSession) -> Any:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


async def evaluate_sla(ctx: Context, *, at: int | None = None) -> Evaluation:
    """Judge the last closed periods of every lease with samples in them (a breach: record, seizure, both
    parties notified), prune samples older than those periods, then move open breach records along their
    outbox steps (module docstring).

    ``at``: chain time (default: the latest block's). Raises :class:`engine.errors.ContractMissing` without
    an escrow or registry, and what chain reads raise (:class:`chain.errors.ChainError`); a record is
    written whole or not at all."""
    at = at if at is not None else await ctx.chain_now()
    ctx.contracts.require_escrow()
    ctx.contracts.require_registry()
    async with ctx.sessionmaker() as s:
        policy = await policy_of(s, ctx)
    created: list[int] = []
    for start in sv.closed_periods(at, policy.period, LOOKBACK):
        end = start + policy.period
        async with ctx.sessionmaker() as s:
            sampled = set(
                (
                    await s.scalars(
                        select(m.SlaSample.lease_row_id)
                        .where(
                            m.SlaSample.lease_row_id.is_not(None),
                            m.SlaSample.at >= start,
                            m.SlaSample.at < end,
                        )
                        .distinct()
                    )
                ).all()
            )
            judged = set(
                (
                    await s.scalars(select(m.SlaRecord.lease_row_id).where(m.SlaRecord.period_start == start))
                ).all()
            )
        for lease_row_id in sorted(x for x in sampled - judged if x is not None):
            rid = await _judge(ctx, policy, lease_row_id, start, end)
            if rid is not None:
                created.append(rid)
    periods = sv.closed_periods(at, policy.period, LOOKBACK)
    if periods:  # samples older than every period still judged are never read again: bounded storage
        async with ctx.sessionmaker() as s, s.begin():
            await s.execute(delete(m.SlaSample).where(m.SlaSample.at < periods[0]))
    advanced = await advance_records(ctx)
    return Evaluation(at, tuple(created), advanced)


async def _judge(ctx: Context, policy: sv.Policy, lease_row_id: int, start: int, end: int) -> int | None:
    escrow, registry = ctx.contracts.require_escrow(), ctx.contracts.require_registry()
    async with ctx.sessionmaker() as s:
        lease = await s.get(Lease, lease_row_id)
        if lease is None or lease.chain_lease_id is None:
            return None
        dep = await s.get(Deployment, lease.deployment_id)
        node = await s.get(Node, lease.node_id)
        if dep is None or node is None or node.wallet_address is None:
            return None
        checks = await _checks(s, m.SlaSample.lease_row_id == lease_row_id, start, end)
        windows = await _windows(s, node.id, start, end)
    measured = sv.measure(checks, start, end, windows)
    uptime = measured.uptime_bps
    if uptime is None or not policy.breached(uptime):
        return None
    lease_id = int(lease.chain_lease_id)
    rate = int(lease.rate_per_second)
    on_chain = await escrow.lease(lease_id)
    if on_chain.rate_per_second > 0:  # the rate the payer is charged (a staking discount lowers it)
        rate = min(rate, on_chain.rate_per_second)
    charge = rate * measured.covered
    credit_bps = policy.credit_bps(uptime)
    rebate = sv.rebate(charge, credit_bps)
    collateral = (await registry.provider_info(node.wallet_address)).collateral
    seized = min(rebate, collateral)
    evidence = sv.evidence(
        chain_id=ctx.chain_id,
        lease_id=lease_id,
        chain_node_id=int(lease.chain_node_id),
        period_start=start,
        period_end=end,
        policy=policy,
        m=measured,
        maintenance=windows,
        rate_per_second=rate,
        charge=charge,
        credit_bps=credit_bps,
    )
    digest = sv.evidence_hash(evidence)
    ref = sv.seize_ref(ctx.chain_id, escrow.address, lease_id, start)
    now = ctx.clock()
    seize_key = sv.outbox_key(ctx.chain_id, "seize", lease_id, start) if seized > 0 else None
    async with ctx.sessionmaker() as s, s.begin():
        stmt = (
            _insert(s)(m.SlaRecord)
            .values(
                lease_row_id=lease.id,
                chain_lease_id=lease.chain_lease_id,
                deployment_id=dep.id,
                node_id=node.id,
                provider=node.wallet_address,
                payer=dep.payer,
                period_start=start,
                period_end=end,
                uptime_bps=uptime,
                target_bps=policy.target_bps,
                credit_bps=credit_bps,
                charge=charge,
                rebate=rebate,
                seized=seized,
                evidence=evidence,
                evidence_hash="0x" + digest.hex(),
                ref="0x" + ref.hex(),
                status=m.SEIZING if rebate > 0 else m.NO_CREDIT,
                seize_key=seize_key,
                created_at=now,
                updated_at=now,
            )
            # no conflict target: the ref is unique too and is a function of (lease, period), so under a
            # race PostgreSQL may hit it first; a targeted DO NOTHING raises there (seen in the race test)
            .on_conflict_do_nothing()
            .returning(m.SlaRecord.id)
        )
        rid = (await s.execute(stmt)).scalar_one_or_none()
        if rid is None:  # another evaluation recorded this (lease, period) first: it does the rest
            return None
        if seize_key is not None:
            await enqueue(
                s,
                kind="sla.seize",
                to=registry.address,
                data=registry.encode_seize(node.wallet_address, seized, ref, digest),
                idempotency_key=seize_key,
                args={
                    "record": rid,
                    "provider": node.wallet_address,
                    "amount": seized,
                    "ref": "0x" + ref.hex(),
                },
            )
        data = {
            "record_id": rid,
            "deployment_id": dep.id,
            "lease_id": lease.chain_lease_id,
            "period_start": start,
            "period_end": end,
            "uptime_bps": uptime,
            "rebate": rebate,
            "seized": seized,
            "evidence_hash": "0x" + digest.hex(),
        }
        dedupe = f"sla_breach:{lease.chain_lease_id}:{start}"
        await notify(
            s,
            node.provider_user_id,
            "sla_breach",
            dedupe,
            f"SLA breach on node {node.name}",
            f"Lease {lease.chain_lease_id} had {uptime} bps uptime in the period starting {start} (target "
            f"{policy.target_bps}); {seized} credit units of collateral are seized.",
            data,
            now=now,
        )
        await notify(
            s,
            dep.user_id,
            "sla_credit",
            dedupe,
            f"SLA credit for deployment {dep.id}",
            f"Lease {lease.chain_lease_id} had {uptime} bps uptime in the period starting {start} (target "
            f"{policy.target_bps}); {rebate} credit units are credited to the lease.",
            data,
            now=now,
        )
    return int(rid)


# ---- views ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeriodUptime:
    start: int
    end: int
    uptime_bps: int | None
    up: int
    down: int
    excluded: int

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "uptime_bps": self.uptime_bps,
            "up_seconds": self.up,
            "down_seconds": self.down,
            "excluded_seconds": self.excluded,
        }


@dataclass(frozen=True)
class SlaView:
    policy: sv.Policy
    subjects: list[dict[str, Any]]  # leases (tenant) or nodes (provider), each with its current period
    records: list[m.SlaRecord]
    totals: dict[str, int] | None = None


async def _period_uptime(
    s: AsyncSession, where: Any, node_id: int, start: int, end: int, now: int
) -> PeriodUptime:
    checks = await _checks(s, where, start, end)
    got = sv.measure(checks, start, min(end, max(now, start)), await _windows(s, node_id, start, end))
    return PeriodUptime(start, end, got.uptime_bps, got.up, got.down, got.excluded)


async def deployment_sla(ctx: Context, user_id: int, deployment_id: int) -> SlaView:
    """The SLA of one of the caller's deployments: each lease's uptime in the current period and its breach
    records. Raises :class:`SlaNotFound` when the deployment is not the caller's."""
    now = await ctx.chain_now()
    async with ctx.sessionmaker() as s:
        dep = await s.get(Deployment, deployment_id)
        if dep is None or dep.user_id != user_id:
            raise SlaNotFound("deployment", deployment_id)
        policy = await policy_of(s, ctx)
        start = sv.period_of(now, policy.period)
        leases = (
            await s.scalars(
                select(Lease)
                .where(Lease.deployment_id == deployment_id, Lease.chain_lease_id.is_not(None))
                .order_by(Lease.id)
            )
        ).all()
        subjects = []
        for lease in leases:
            got = await _period_uptime(
                s, m.SlaSample.lease_row_id == lease.id, lease.node_id, start, start + policy.period, now
            )
            subjects.append(
                {
                    "lease_id": lease.chain_lease_id,
                    "node_id": lease.node_id,
                    "status": lease.status,
                    "current_period": got.to_json(),
                }
            )
        records = list(
            (
                await s.scalars(
                    select(m.SlaRecord)
                    .where(m.SlaRecord.deployment_id == deployment_id)
                    .order_by(m.SlaRecord.id)
                )
            ).all()
        )
    return SlaView(policy, subjects, records)


async def provider_sla(ctx: Context, provider_user_id: int) -> SlaView:
    """The caller's nodes' uptime (heartbeats) in the current period and the breach records against them."""
    now = await ctx.chain_now()
    async with ctx.sessionmaker() as s:
        policy = await policy_of(s, ctx)
        start = sv.period_of(now, policy.period)
        nodes = (
            await s.scalars(select(Node).where(Node.provider_user_id == provider_user_id).order_by(Node.id))
        ).all()
        subjects = []
        for node in nodes:
            where = and_(m.SlaSample.node_id == node.id, m.SlaSample.lease_row_id.is_(None))
            got = await _period_uptime(s, where, node.id, start, start + policy.period, now)
            subjects.append(
                {
                    "node_id": node.id,
                    "chain_node_id": node.chain_node_id,
                    "name": node.name,
                    "current_period": got.to_json(),
                }
            )
        ids = [n.id for n in nodes]
        records = (
            list(
                (
                    await s.scalars(
                        select(m.SlaRecord).where(m.SlaRecord.node_id.in_(ids)).order_by(m.SlaRecord.id)
                    )
                ).all()
            )
            if ids
            else []
        )
    return SlaView(policy, subjects, records)


async def operator_overview(ctx: Context, *, limit: int = 100) -> SlaView:
    """Every breach record (newest ``limit``) and totals per status: records, rebates, seized."""
    async with ctx.sessionmaker() as s:
        policy = await policy_of(s, ctx)
        rows = (
            await s.execute(
                select(
                    m.SlaRecord.status,
                    func.count(),
                    func.coalesce(func.sum(m.SlaRecord.rebate), 0),
                    func.coalesce(func.sum(m.SlaRecord.seized), 0),
                ).group_by(m.SlaRecord.status)
            )
        ).all()
        records = list(
            (await s.scalars(select(m.SlaRecord).order_by(m.SlaRecord.id.desc()).limit(limit))).all()
        )
    totals = {"records": 0, "rebates": 0, "seized": 0}
    for status, count, rebates, seized in rows:
        totals["records"] += int(count)
        totals["rebates"] += int(rebates)
        totals["seized"] += int(seized)
        totals[f"records_{status}"] = int(count)
    return SlaView(policy, [], records, totals)


def record_json(r: m.SlaRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "deployment_id": r.deployment_id,
        "lease_id": r.chain_lease_id,
        "node_id": r.node_id,
        "provider": r.provider,
        "period_start": r.period_start,
        "period_end": r.period_end,
        "uptime_bps": r.uptime_bps,
        "target_bps": r.target_bps,
        "credit_bps": r.credit_bps,
        "charge": r.charge,
        "rebate": r.rebate,
        "seized": r.seized,
        "evidence_hash": r.evidence_hash,
        "ref": r.ref,
        "status": r.status,
        "evidence": r.evidence,
    }
