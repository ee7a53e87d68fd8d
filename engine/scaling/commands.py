"""The scaling use cases the API calls, one command each: scale a deployment, set its autoscale policy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.context import Context
from engine.deployments import services
from engine.deployments.commands import DeploymentAction
from engine.deployments.pause import require_unpaused
from engine.money import CreditUnits
from engine.operator.config import current_settings
from engine.scaling import autoscale
from engine.scaling.errors import BadReplicas
from engine.scaling.services import scale, scale_inputs
from engine.workloads.wakeups import publish_noted


@dataclass(frozen=True)
class ScaleRequest:
    replicas: int
    deposit_per_replica: CreditUnits | None = None  # None: as many seconds as the first replica's deposit

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> ScaleRequest:
        deposit = body.get("deposit_per_replica")
        return cls(int(body["replicas"]), None if deposit is None else CreditUnits(int(deposit)))


@dataclass(frozen=True)
class AutoscaleRequest:
    min_replicas: int
    max_replicas: int
    cpu_target_bps: int  # of the requested CPU
    cooldown_seconds: int

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> AutoscaleRequest:
        return cls(
            int(body["min_replicas"]),
            int(body["max_replicas"]),
            int(body["cpu_target_bps"]),
            int(body["cooldown_seconds"]),
        )


@dataclass(frozen=True)
class AutoscalePolicy:
    deployment_id: int
    min_replicas: int
    max_replicas: int
    cpu_target_bps: int
    cooldown_seconds: int


async def scale_deployment(
    ctx: Context, user_id: int, deployment_id: int, request: ScaleRequest
) -> DeploymentAction:
    """Scale to ``request.replicas`` (:func:`engine.scaling.services.scale`): managed payers' leases are
    opened/closed through the relay; a wallet-connected payer gets the transactions (approve if short +
    ``open`` per new replica; ``close`` per removed replica, highest index first). Wake-ups are published
    after the commit. The result's leases are all the deployment's leases.

    Raises: ``DeploymentNotFound`` (404), ``WrongState`` (409), ``BadReplicas`` (400), ``BadFunding``
    (400), ``NoNodeFits`` (409 / 422), ``NoRelay`` (400), ``EscrowPaused`` (503 ``escrow_paused``: a
    scale-up while the escrow is paused; scaling down closes, which always works), ``ContractMissing``
    (503)."""
    async with ctx.sessionmaker() as session:
        async with session.begin():
            dep = await services.get_own(session, user_id, deployment_id)
            if request.replicas > dep.replicas:
                await require_unpaused(ctx, "scale a deployment up")
            inputs = await scale_inputs(session, ctx)
            result = await scale(
                session, dep, request.replicas, inputs, deposit_per_replica=request.deposit_per_replica
            )
            leases = (await services.leases_of(session, [dep.id]))[dep.id]
        await publish_noted(ctx.hub, session)
    return DeploymentAction(dep, leases, result.transactions)


async def set_autoscale(
    ctx: Context, user_id: int, deployment_id: int, request: AutoscaleRequest
) -> AutoscalePolicy:
    """Create or replace the deployment's autoscale policy (the ``deployments.autoscale`` job applies it:
    managed payers are scaled, wallet-connected payers get recommendations).

    Raises: ``DeploymentNotFound`` (404), ``BadReplicas`` (400: not ``1 <= min <= max <= max_replicas``)."""
    async with ctx.sessionmaker() as session, session.begin():
        dep = await services.get_own(session, user_id, deployment_id)
        limit = (await current_settings(session, ctx.settings)).max_replicas
        if request.min_replicas > request.max_replicas or request.max_replicas > limit:
            raise BadReplicas(
                f"need 1 <= min_replicas <= max_replicas <= {limit}", max_replicas_allowed=limit
            )
        row = await autoscale.set_policy(
            session,
            dep,
            min_replicas=request.min_replicas,
            max_replicas=request.max_replicas,
            cpu_target_bps=request.cpu_target_bps,
            cooldown_seconds=request.cooldown_seconds,
        )
    return AutoscalePolicy(
        dep.id, row.min_replicas, row.max_replicas, row.cpu_target_bps, row.cooldown_seconds
    )
