"""Placement over the database: filter AND score in SQL, place in Python on a short list (issue 15 §3).

Creating a deployment used to load every active node, then its heartbeat health with an ``IN`` list of
every node id (one bound parameter per node: PostgreSQL refuses more than 32,767), then score them all in
Python. Here one statement per placement does the work where the rows are:

1. **Hard filters in SQL** (``WHERE``), the same as :mod:`engine.placement.filters`: active and linked on
   chain, provider ``Approved``, online (last heartbeat within ``offline_after`` of ``wall_now``), no
   scheduled maintenance window overlapping ``[now, now + horizon)``, region, GPU model, country, free
   capacity (capacity minus what live leases hold), required attributes, uptime, price ceiling.
2. **The score in SQL** (``ORDER BY score, node id as text LIMIT k``): the exact integer formula of
   :mod:`engine.placement.scoring` (all terms non-negative, so SQL's truncating division is Python's
   floor division), ties by node id in string order as :func:`~engine.placement.services.place` breaks them.
   The ``k`` rows are the first ``k`` of the order ``place`` itself would walk over every candidate.
3. **``place`` on the short list** with ``partial=True``: it raises :class:`~engine.placement.services.
   ShortList` if it had to look past the list's end (few providers, anti-affinity, a backup far down),
   and the list grows (x8) until ``place`` decides inside it or the list holds every eligible node.
   A decision taken before the end of a prefix of the order is the decision over the whole order.
4. Nothing fits: the exact error (per-filter rejection counts over every node, as before) comes from
   :func:`live_candidates` + ``place`` — a full snapshot, only on this failure path.

Every parameter is a spec or clock value: the statement's parameter count does not grow with the number of
nodes (``tests/unit/engine/placement/test_store.py`` counts them). Costs per placement: the statement
reads every node row and each node's uptime minutes in the window and every live lease once (indexes and
C code, no Python per row); Python builds ``k`` (64 at first) :class:`NodeCandidate` objects.

Uptime is ``min(10_000, up_minutes * 10_000 // expected_minutes)`` as in
:func:`engine.workloads.heartbeats.uptime_bps`; ``first_seen_at`` becomes a minute in SQL per dialect.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    String,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

from engine.deployments import models as dm
from engine.deployments.spec import DeploymentSpec
from engine.money import BPS_DENOMINATOR
from engine.nodes.models import NODE_ACTIVE, WINDOW_SCHEDULED, MaintenanceWindow, Node
from engine.placement.errors import NoNodeFits
from engine.placement.filters import floor_exact
from engine.placement.models import Capacity, NodeCandidate, Placement, PricingPolicy, UnitPrices
from engine.placement.pricing import RATE_DENOMINATOR
from engine.placement.scoring import DEFAULT_WEIGHTS, ScoreWeights
from engine.placement.services import ShortList, place
from engine.providers.models import ProviderChainState
from engine.workloads import models as wm
from engine.workloads.heartbeats import LivenessPolicy, uptime_bps, utcnow

APPROVED = "Approved"
FIRST_SHORTLIST = 64
GROWTH = 8
LIVE_LEASES = (dm.AWAITING_FUNDS, dm.LEASE_OPEN, dm.RESERVED)
UPTIME = 25  # position of the uptime column in eligible_query's rows (after the 25 of _columns)


@dataclass(frozen=True)
class Clock:
    """``now``: chain time (maintenance windows); ``wall_now``: heartbeats; ``horizon``: lease length."""

    now: int
    wall_now: datetime
    horizon: int
    policy: LivenessPolicy  # resolved (the operator's offline_after)

    @property
    def now_minute(self) -> int:
        return int(self.wall_now.timestamp()) // 60

    @property
    def since_minute(self) -> int:
        return int((self.wall_now - timedelta(seconds=self.policy.uptime_window)).timestamp()) // 60

    @property
    def online_since(self) -> datetime:
        return self.wall_now - timedelta(seconds=self.policy.offline_after)


async def clock(
    session: AsyncSession,
    *,
    now: int,
    horizon: int = 0,
    liveness: LivenessPolicy | None = None,
    wall_now: datetime | None = None,
) -> Clock:
    policy = await (liveness or LivenessPolicy()).resolved(session)
    return Clock(now, wall_now or utcnow(), horizon, policy)


def _big(value: int) -> Any:
    return literal(value, BigInteger)


def _allocated() -> Any:
    """What live leases hold per node (``nodes.id``): one grouped pass over the live leases."""
    res = dm.Deployment.spec

    def part(*path: str) -> Any:
        return func.coalesce(func.sum(res[path].as_integer()), 0)

    return (
        select(
            dm.Lease.node_id.label("node_id"),
            part("resources", "cpu_millicores").label("cpu"),
            part("resources", "memory_mb").label("mem"),
            part("resources", "disk_gb").label("disk"),
            part("resources", "gpu", "count").label("gpu"),
        )
        .join(dm.Deployment, dm.Deployment.id == dm.Lease.deployment_id)
        .where(dm.Lease.status.in_(LIVE_LEASES))
        .group_by(dm.Lease.node_id)
        .subquery("alloc")
    )


def _p(name: str) -> Any:
    return bindparam(name, type_=BigInteger)


def _up_minutes(since: Any) -> Any:
    return (
        select(wm.NodeUptimeMinute.node_id.label("node_id"), func.count().label("up"))
        .where(wm.NodeUptimeMinute.minute >= since)
        .group_by(wm.NodeUptimeMinute.node_id)
        .subquery("upm")
    )


def _epoch_minute(dialect: str, column: Any) -> Any:
    if dialect == "postgresql":
        return cast(func.floor(func.extract("epoch", column)), BigInteger) // 60
    return cast(func.strftime("%s", column), BigInteger) // 60


def _in_maintenance(start: Any, end: Any) -> Any:
    return exists().where(
        MaintenanceWindow.node_id == Node.id,
        MaintenanceWindow.status == WINDOW_SCHEDULED,
        MaintenanceWindow.start_at < end,
        MaintenanceWindow.end_at > start,
    )


def _has_attributes(dialect: str, count: int) -> list[ColumnElement[bool]]:
    if not count:
        return []
    if dialect == "postgresql":
        return [cast(Node.attributes, JSONB).contains(bindparam("attrs", type_=JSONB))]
    out: list[ColumnElement[bool]] = []
    for k in range(count):
        each = func.json_each(Node.attributes).table_valued("value")
        out.append(exists().select_from(each).where(each.c.value == bindparam(f"attr{k}", type_=String)))
    return out


def _clamped(column: Any, floor: Any) -> Any:
    return case((column < floor, floor), else_=column)


def _columns(alloc: Any, upm: Any) -> list[Any]:
    return [
        Node.id,
        Node.chain_node_id,
        Node.wallet_address,
        Node.payee,
        Node.region,
        Node.country,
        Node.cpu_millicores,
        Node.memory_mb,
        Node.disk_gb,
        Node.gpu_model,
        Node.gpu_count,
        Node.price_per_cpu_millicore,
        Node.price_per_memory_mb,
        Node.price_per_disk_gb,
        Node.price_per_gpu,
        Node.attributes,
        Node.certified,
        Node.bandwidth_mbps,
        func.coalesce(alloc.c.cpu, 0).label("alloc_cpu"),
        func.coalesce(alloc.c.mem, 0).label("alloc_mem"),
        func.coalesce(alloc.c.disk, 0).label("alloc_disk"),
        func.coalesce(alloc.c.gpu, 0).label("alloc_gpu"),
        wm.NodeLiveness.first_seen_at,
        wm.NodeLiveness.last_seen_at,
        func.coalesce(upm.c.up, 0).label("up_minutes"),
    ]


def row_candidate(
    row: Sequence[Any], *, approved: bool, online: bool, maintenance: bool, uptime: int
) -> NodeCandidate:
    (_id, chain_id, wallet, payee, region, country, cpu, mem, disk, gpu_model, gpu_count) = row[:11]
    pc, pm, pd, pg, attrs, certified, bandwidth, acpu, amem, adisk, agpu = row[11:22]
    return NodeCandidate(
        node_id=str(chain_id),
        provider_id=str(wallet),
        alliance_id=payee if payee != wallet else None,
        region=str(region),
        country=country or "",
        capacity=Capacity(cpu, mem, disk, gpu_model, gpu_count),
        allocated=Capacity(int(acpu), int(amem), int(adisk), gpu_model, int(agpu)),
        prices=UnitPrices(pc, pm, pd, pg),
        attributes=frozenset(attrs or ()),
        certified=bool(certified),
        provider_approved=approved,
        online=online,
        in_maintenance=maintenance,
        uptime_bps=uptime,
        bandwidth_mbps=bandwidth,
    )


@dataclass(frozen=True)
class _Shape:
    """What the statement's text depends on (everything else is a bound parameter)."""

    dialect: str
    gpus: bool
    gpu_model: bool
    regions: bool
    countries: bool
    attributes: int
    min_uptime: bool
    max_price: bool
    alliance: bool


def _shape(dialect: str, spec: DeploymentSpec) -> _Shape:
    return _Shape(
        dialect,
        spec.resources.gpu_count > 0,
        spec.resources.gpu is not None,
        bool(spec.regions),
        bool(spec.countries),
        len(spec.required_attributes),
        spec.min_uptime_bps > 0,
        spec.max_price_per_second is not None,
        spec.preferred_alliance is not None,
    )


def _values(
    spec: DeploymentSpec, pricing: PricingPolicy, c: Clock, weights: ScoreWeights, dialect: str
) -> dict[str, Any]:
    """The bound parameters of :func:`_eligible` (names as there)."""
    res, floor, bps = spec.resources, pricing.floor, BPS_DENOMINATOR
    out: dict[str, Any] = {
        "cpu": res.cpu_millicores,
        "mem": res.memory_mb,
        "disk": res.disk_gb,
        "gpus": res.gpu_count,
        "fc": floor.per_cpu_millicore,
        "fm": floor.per_memory_mb,
        "fd": floor.per_disk_gb,
        "fg": floor.per_gpu,
        "mult_cert": bps + pricing.certified_premium_bps,
        "mult": bps,
        "bps": bps,
        "one": 1,
        "zero": 0,
        "since_min": c.since_minute,
        "now_min": c.now_minute,
        "f_exact": floor_exact(spec, pricing),
        "wp": weights.price,
        "wu": weights.uptime,
        "wl": weights.load,
        "bonus": weights.alliance_bonus,
        "online_since": c.online_since,
        "m_start": c.now,
        "m_end": c.now + max(c.horizon, 1),
        "regions": sorted(spec.regions),
        "countries": sorted(spec.countries),
        "gpu_model": None if res.gpu is None else res.gpu.model,
        "min_up": spec.min_uptime_bps,
        "max_exact": (spec.max_price_per_second or 0) * RATE_DENOMINATOR,
        "pref": spec.preferred_alliance,
    }
    attrs = sorted(spec.required_attributes)
    if dialect == "postgresql":
        out["attrs"] = attrs
    else:
        out.update({f"attr{k}": a for k, a in enumerate(attrs)})
    return out


@functools.cache
def _eligible(shape: _Shape) -> Select[Any]:
    """Every eligible node (the hard filters), with its uptime, score and tie-break as the last columns;
    every spec and clock value a bound parameter (:func:`_values`), so the statement is built once per
    shape (building it cost more than running it below 10,000 nodes)."""
    alloc, upm = _allocated(), _up_minutes(_p("since_min"))
    bps = _p("bps")
    base = (
        _clamped(Node.price_per_cpu_millicore, _p("fc")) * _p("cpu")
        + _clamped(Node.price_per_memory_mb, _p("fm")) * _p("mem")
        + _clamped(Node.price_per_disk_gb, _p("fd")) * _p("disk")
    )
    if shape.gpus:
        base = base + _clamped(Node.price_per_gpu, _p("fg")) * _p("gpus")
    exact = base * case((Node.certified, _p("mult_cert")), else_=_p("mult"))
    first_minute = _epoch_minute(shape.dialect, wm.NodeLiveness.first_seen_at)
    since = _p("since_min")
    start = case((first_minute > since, first_minute), else_=since)
    expected = _p("now_min") - start + 1
    expected = case((expected < 1, _p("one")), else_=expected)
    raw_up = func.coalesce(upm.c.up, 0) * bps // expected
    uptime = case((raw_up > bps, bps), else_=raw_up)
    a_cpu, a_mem = func.coalesce(alloc.c.cpu, 0), func.coalesce(alloc.c.mem, 0)
    lc = (a_cpu + _p("cpu")) * bps // Node.cpu_millicores
    lm = (a_mem + _p("mem")) * bps // Node.memory_mb
    load = case((lc > lm, lc), else_=lm)
    f_exact = _p("f_exact")
    score = _p("wp") * ((exact - f_exact) * bps // f_exact) + _p("wu") * (bps - uptime) + _p("wl") * load
    if shape.alliance:
        pref = bindparam("pref", type_=String)
        in_alliance = and_(Node.payee == pref, Node.payee != Node.wallet_address)
        score = score + case((in_alliance, _p("zero")), else_=_p("bonus"))
    where: list[ColumnElement[bool]] = [
        Node.status == NODE_ACTIVE,
        Node.chain_node_id.is_not(None),
        Node.region.is_not(None),
        ProviderChainState.status == APPROVED,
        wm.NodeLiveness.last_seen_at >= bindparam("online_since", type_=wm.NodeLiveness.last_seen_at.type),
        ~_in_maintenance(_p("m_start"), _p("m_end")),
        Node.cpu_millicores - a_cpu >= _p("cpu"),
        Node.memory_mb - a_mem >= _p("mem"),
        Node.disk_gb - func.coalesce(alloc.c.disk, 0) >= _p("disk"),
        Node.gpu_count - func.coalesce(alloc.c.gpu, 0) >= _p("gpus"),
        *_has_attributes(shape.dialect, shape.attributes),
    ]
    if shape.regions:
        where.append(Node.region.in_(bindparam("regions", expanding=True)))
    if shape.gpu_model:
        where.append(Node.gpu_model == bindparam("gpu_model", type_=String))
    if shape.countries:
        where.append(Node.country.in_(bindparam("countries", expanding=True)))
    if shape.min_uptime:
        where.append(uptime >= _p("min_up"))
    if shape.max_price:
        where.append(exact <= _p("max_exact"))
    return (
        select(
            *_columns(alloc, upm),
            uptime.label("uptime_bps"),
            score.label("score"),
            cast(Node.chain_node_id, String).label("tie"),
        )
        .join(ProviderChainState, ProviderChainState.address == Node.wallet_address)
        .join(wm.NodeLiveness, wm.NodeLiveness.node_id == Node.id)
        .outerjoin(alloc, alloc.c.node_id == Node.id)
        .outerjoin(upm, upm.c.node_id == Node.id)
        .where(*where)
    )


@functools.cache
def _shortlist(shape: _Shape, limited: bool) -> Select[Any]:
    eligible = _eligible(shape).cte("eligible").prefix_with("MATERIALIZED")
    stmt = select(eligible).order_by(eligible.c.score, eligible.c.tie)
    return stmt.limit(bindparam("n", type_=Integer)) if limited else stmt


def eligible_query(
    dialect: str,
    spec: DeploymentSpec,
    pricing: PricingPolicy,
    c: Clock,
    *,
    weights: ScoreWeights = DEFAULT_WEIGHTS,
) -> tuple[Select[Any], dict[str, Any]]:
    """Every eligible node (the hard filters), with its uptime, score and tie-break as the last columns:
    the statement and its parameters."""
    return _eligible(_shape(dialect, spec)), _values(spec, pricing, c, weights, dialect)


def shortlist_query(
    dialect: str,
    spec: DeploymentSpec,
    pricing: PricingPolicy,
    c: Clock,
    *,
    limit: int | None,
    weights: ScoreWeights = DEFAULT_WEIGHTS,
) -> tuple[Select[Any], dict[str, Any]]:
    """Every eligible node, best first (``limit``: the first ``limit`` of them): the statement and its
    parameters. The eligible set is a MATERIALIZED common table expression: with a ``LIMIT`` next to the
    filters, PostgreSQL's planner bet on stopping early and chose nested loops over the per-node aggregates
    (measured 5x slower than the same filters without the ``LIMIT`` at 100,000 nodes)."""
    values = _values(spec, pricing, c, weights, dialect)
    if limit is not None:
        values["n"] = limit
    return _shortlist(_shape(dialect, spec), limit is not None), values


async def shortlist(
    session: AsyncSession,
    spec: DeploymentSpec,
    pricing: PricingPolicy,
    c: Clock,
    *,
    limit: int | None,
    weights: ScoreWeights = DEFAULT_WEIGHTS,
) -> list[NodeCandidate]:
    """The first ``limit`` eligible nodes in placement order (``None``: all of them)."""
    dialect = session.get_bind().dialect.name
    stmt, values = shortlist_query(dialect, spec, pricing, c, limit=limit, weights=weights)
    rows = (await session.execute(stmt, values)).all()
    return [
        row_candidate(r, approved=True, online=True, maintenance=False, uptime=int(r[UPTIME])) for r in rows
    ]


async def live_candidates(session: AsyncSession, c: Clock) -> list[NodeCandidate]:
    """Every active, located node as a :class:`NodeCandidate` with what live leases hold on it, its
    provider status, heartbeat health and maintenance flag as fields (nothing filtered): the input of
    scaling and of the exact rejection counts. One statement, no per-node parameters."""
    alloc, upm = _allocated(), _up_minutes(_big(c.since_minute))
    busy = _in_maintenance(_big(c.now), _big(c.now + max(c.horizon, 1)))
    stmt = (
        select(*_columns(alloc, upm), ProviderChainState.status, busy)
        .outerjoin(ProviderChainState, ProviderChainState.address == Node.wallet_address)
        .outerjoin(wm.NodeLiveness, wm.NodeLiveness.node_id == Node.id)
        .outerjoin(alloc, alloc.c.node_id == Node.id)
        .outerjoin(upm, upm.c.node_id == Node.id)
        .where(Node.status == NODE_ACTIVE, Node.chain_node_id.is_not(None), Node.region.is_not(None))
        .order_by(Node.chain_node_id)
    )
    out: list[NodeCandidate] = []
    window = c.policy.uptime_window
    for row in (await session.execute(stmt)).all():
        first, last, up, provider_status, busy = row[22], row[23], row[24], row[25], row[26]
        if last is None:
            online, uptime = False, 0
        else:
            last = last if last.tzinfo is not None else last.replace(tzinfo=c.wall_now.tzinfo)
            online = c.wall_now - last <= timedelta(seconds=c.policy.offline_after)
            uptime = uptime_bps(first, int(up), c.wall_now, window)
        out.append(
            row_candidate(
                row,
                approved=provider_status == APPROVED,
                online=online,
                maintenance=bool(busy),
                uptime=uptime,
            )
        )
    return out


async def place_live(
    session: AsyncSession,
    spec: DeploymentSpec,
    pricing: PricingPolicy,
    c: Clock,
    *,
    weights: ScoreWeights = DEFAULT_WEIGHTS,
    first: int = FIRST_SHORTLIST,
) -> Placement:
    """Place ``spec`` on the nodes as the database has them now (module docstring). The result equals
    ``place(spec, await live_candidates(session, c), pricing)``; raises the same ``NoNodeFits``."""
    limit: int | None = first
    while True:
        candidates = await shortlist(session, spec, pricing, c, limit=limit, weights=weights)
        complete = limit is None or len(candidates) < limit
        try:
            return place(spec, candidates, pricing, weights=weights, partial=not complete)
        except ShortList:
            limit = None if limit is None or limit * GROWTH >= 1 << 20 else limit * GROWTH
        except NoNodeFits:
            if not complete:
                limit = None if limit is None or limit * GROWTH >= 1 << 20 else limit * GROWTH
                continue
            break
    # nothing fits: the exact error, counted over every node by the same filters
    everything = await live_candidates(session, c)
    return place(spec, everything, pricing, weights=weights)  # raises (SQL and Python filters agree)
