"""Scheduler jobs of the deployments room, bound to a runtime: ``deployments.failover`` (every few
seconds) and ``deployments.autoscale``. The composition root passes them to
:class:`engine.scheduler.jobs.JobDeps` (``failover=``, ``autoscale=``)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from chain.contracts import CreditTokenClient, EscrowClient
from engine.deployments import autoscale, failover
from engine.deployments.failover import FailoverDeps
from engine.deployments.scaling import ScaleContext, scale_context
from engine.runtime import Runtime
from engine.scheduler.jobs import JobFunc
from engine.workloads.heartbeats import LivenessPolicy


@dataclass(frozen=True)
class DeploymentJobs:
    failover: JobFunc
    autoscale: JobFunc
    failover_deps: FailoverDeps


def bind(runtime: Runtime) -> DeploymentJobs:
    escrow = EscrowClient(runtime.chain.w3, runtime.manifest.address("DeploymentEscrow"))
    token = CreditTokenClient(runtime.chain.w3, runtime.manifest.address("CreditToken"))
    deps = FailoverDeps(
        escrow, token, runtime.chain.chain_id, runtime.relay, LivenessPolicy.from_settings(runtime.settings)
    )

    async def make_context(session: AsyncSession) -> ScaleContext:
        return await scale_context(
            session,
            runtime.settings,
            escrow=escrow,
            token=token,
            chain_id=runtime.chain.chain_id,
            relay=runtime.relay,
        )

    return DeploymentJobs(
        failover=functools.partial(failover.run, runtime.sessionmaker, runtime.hub, deps),
        autoscale=functools.partial(autoscale.run, runtime.sessionmaker, runtime.hub, make_context),
        failover_deps=deps,
    )
