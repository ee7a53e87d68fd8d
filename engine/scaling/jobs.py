"""Scheduler jobs of the scaling room, bound to the engine's :class:`~engine.context.Context`:
``deployments.failover`` (every few seconds) and ``deployments.autoscale``. The composition root passes
them to :class:`engine.scheduler.jobs.JobDeps` (``failover=``, ``autoscale=``)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from engine.context import Context
from engine.scaling import autoscale, failover
from engine.scaling.failover import FailoverDeps
from engine.scaling.services import ScaleInputs, scale_inputs
from engine.scheduler.jobs import JobFunc
from engine.workloads.heartbeats import LivenessPolicy


@dataclass(frozen=True)
class ScalingJobs:
    failover: JobFunc
    autoscale: JobFunc
    failover_deps: FailoverDeps


def bind(ctx: Context) -> ScalingJobs:
    """The jobs over ``ctx`` (its contract clients, relay, hub). Raises ``ContractMissing`` when the chain
    has no escrow."""
    deps = FailoverDeps(
        ctx.contracts.require_escrow(),
        ctx.contracts.token,
        ctx.chain_id,
        ctx.relay,
        LivenessPolicy.from_settings(ctx.settings),
        ctx.quoter,
    )

    async def make_inputs(session: AsyncSession) -> ScaleInputs:
        return await scale_inputs(session, ctx)

    return ScalingJobs(
        failover=functools.partial(failover.run, ctx.sessionmaker, ctx.hub, deps),
        autoscale=functools.partial(autoscale.run, ctx.sessionmaker, ctx.hub, make_inputs),
        failover_deps=deps,
    )
