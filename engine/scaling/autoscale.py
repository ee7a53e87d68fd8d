"""Autoscaling: a per-deployment policy (min/max replicas, CPU target in basis points of the requested
CPU, cooldown) evaluated by the ``deployments.autoscale`` scheduler job against the heartbeat usage series.

Decision (:func:`decide`, pure): from the utilisation samples taken *after* the last scaling (usage of
the old replica count says nothing about the new one) and at most ``window`` seconds old:

* inside the cooldown after the last scaling: 0;
* replicas below ``min_replicas``: +1; above ``max_replicas``: -1 (one step per evaluation);
* fewer than ``min_samples`` samples: 0;
* mean utilisation above ``target + tolerance`` (tolerance = ``tolerance_bps`` of the target) and below
  the max: +1;
* mean utilisation that would stay below ``target - tolerance`` with one replica fewer
  (``mean * n / (n - 1)``) and above the min: -1;
* else 0. Integer arithmetic only.

Utilisation of a replica between two consecutive heartbeats = ``cpu millicores used`` (from its cumulative
CPU time) ``* 10_000 // requested cpu_millicores``.

Managed-wallet deployments are scaled (:func:`engine.scaling.services.scale`); for wallet-connected
payers, who must sign every lease themselves, the job records a recommendation transition (status
unchanged, streamed over SSE) instead. Both restart the cooldown.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from engine.deployments import models as m
from engine.deployments import status
from engine.deployments.errors import DeploymentError
from engine.deployments.pause import require_unpaused
from engine.money import BPS_DENOMINATOR
from engine.notify import Hub
from engine.placement.errors import NoNodeFits
from engine.relay.errors import NoRelay
from engine.scaling.models import AutoscalePolicyRow
from engine.scaling.services import ScaleInputs, record_note, scale
from engine.workloads import models as wm
from engine.workloads.heartbeats import _aware, utcnow
from engine.workloads.wakeups import publish_noted

log = logging.getLogger(__name__)

BPS = BPS_DENOMINATOR


@dataclass(frozen=True)
class Policy:
    min_replicas: int
    max_replicas: int
    cpu_target_bps: int
    cooldown_seconds: int
    window_seconds: int = 300
    min_samples: int = 3
    tolerance_bps: int = 1_000  # of the target


@dataclass(frozen=True)
class Sample:
    """One replica's utilisation between two heartbeats, while the deployment had ``replicas``."""

    at: datetime
    replicas: int
    utilization_bps: int


def decide(policy: Policy, samples: Sequence[Sample], now: datetime, last_scaled_at: datetime | None) -> int:
    """-1, 0 or +1 replicas (module docs)."""
    if last_scaled_at is not None and now - last_scaled_at < timedelta(seconds=policy.cooldown_seconds):
        return 0
    fresh = [
        s
        for s in samples
        if now - s.at <= timedelta(seconds=policy.window_seconds)
        and (last_scaled_at is None or s.at > last_scaled_at)
    ]
    if not fresh and not samples:
        return 0
    n = (fresh or list(samples))[-1].replicas
    if n < policy.min_replicas:
        return 1
    if n > policy.max_replicas:
        return -1
    if len(fresh) < policy.min_samples:
        return 0
    mean = sum(s.utilization_bps for s in fresh) // len(fresh)
    tol = policy.cpu_target_bps * policy.tolerance_bps // BPS
    if mean > policy.cpu_target_bps + tol and n < policy.max_replicas:
        return 1
    if n > policy.min_replicas and n > 1 and mean * n // (n - 1) < policy.cpu_target_bps - tol:
        return -1
    return 0


def policy_of(row: AutoscalePolicyRow) -> Policy:
    return Policy(row.min_replicas, row.max_replicas, row.cpu_target_bps, row.cooldown_seconds)


async def set_policy(
    session: AsyncSession,
    dep: m.Deployment,
    *,
    min_replicas: int,
    max_replicas: int,
    cpu_target_bps: int,
    cooldown_seconds: int,
) -> AutoscalePolicyRow:
    """Create or replace ``dep``'s policy (bounds are checked by the caller against operator settings)."""
    row = await session.get(AutoscalePolicyRow, dep.id)
    if row is None:
        row = AutoscalePolicyRow(deployment_id=dep.id)
        session.add(row)
    row.min_replicas = min_replicas
    row.max_replicas = max_replicas
    row.cpu_target_bps = cpu_target_bps
    row.cooldown_seconds = cooldown_seconds
    row.updated_at = utcnow()
    await session.flush()
    return row


async def samples_of(session: AsyncSession, dep: m.Deployment, *, since: datetime) -> list[Sample]:
    """Per-replica utilisation samples of ``dep``'s primaries from the heartbeat usage series."""
    requested = int(((dep.spec or {}).get("resources") or {}).get("cpu_millicores", 0))
    if requested <= 0:
        return []
    rows = (
        await session.scalars(
            select(wm.UsageSample)
            .where(
                wm.UsageSample.deployment_id == dep.id,
                wm.UsageSample.role == m.PRIMARY,
                wm.UsageSample.at >= since,
            )
            .order_by(
                wm.UsageSample.workload_id, wm.UsageSample.node_id, wm.UsageSample.at, wm.UsageSample.id
            )
        )
    ).all()
    out: list[Sample] = []
    last: dict[tuple[str, int], wm.UsageSample] = {}
    for s in rows:
        key = (s.workload_id, s.node_id)
        prev = last.get(key)
        last[key] = s
        if prev is None:
            continue
        dt_ms = int((_aware(s.at) - _aware(prev.at)).total_seconds() * 1000)
        if dt_ms <= 0 or s.cpu_ms < prev.cpu_ms:
            continue
        millicores = (s.cpu_ms - prev.cpu_ms) * 1000 // dt_ms
        out.append(Sample(_aware(s.at), dep.replicas, millicores * BPS // requested))
    out.sort(key=lambda x: x.at)
    return out


InputsFactory = Callable[[AsyncSession], Awaitable[ScaleInputs]]


async def evaluate(session: AsyncSession, make_inputs: InputsFactory, *, now: datetime) -> list[int]:
    """Evaluate every policy of a ``running`` deployment once; returns the deployments acted on."""
    rows = (
        await session.execute(
            select(AutoscalePolicyRow, m.Deployment)
            .join(m.Deployment, m.Deployment.id == AutoscalePolicyRow.deployment_id)
            .where(m.Deployment.status == status.RUNNING)
            .order_by(m.Deployment.id)
        )
    ).all()
    acted: list[int] = []
    inputs: ScaleInputs | None = None
    for row, dep in rows:
        policy = policy_of(row)
        last = _aware(row.last_scaled_at) if row.last_scaled_at is not None else None
        since = now - timedelta(seconds=policy.window_seconds)
        delta = decide(policy, await samples_of(session, dep, since=since), now, last)
        if delta == 0:
            continue
        target = dep.replicas + delta
        why = f"autoscale: cpu vs target {policy.cpu_target_bps} bps"
        if dep.funding == m.FUNDING_MANAGED:
            inputs = inputs or await make_inputs(session)
            try:
                if delta > 0:  # opens revert while the escrow is paused: try again on a later run
                    await require_unpaused(inputs.ctx, "scale a deployment up")
                async with session.begin_nested():
                    await scale(session, dep, target, inputs, reason=why)
            except (DeploymentError, NoNodeFits, NoRelay) as exc:
                log.warning("autoscale of deployment %s failed: %s", dep.id, exc)
                continue
        else:
            await record_note(
                session, dep, f"{why}: recommends {dep.replicas} -> {target} replicas (sign to scale)"
            )
        row.last_scaled_at = now
        acted.append(dep.id)
    await session.flush()
    return acted


async def run(
    sessionmaker: async_sessionmaker[AsyncSession],
    hub: Hub | None,
    make_inputs: InputsFactory,
    *,
    now: datetime | None = None,
) -> dict[str, int]:
    """The ``deployments.autoscale`` job."""
    async with sessionmaker() as session:
        async with session.begin():
            acted = await evaluate(session, make_inputs, now=now or utcnow())
        await publish_noted(hub, session)
    return {"acted": len(acted)}
