"""Carry operator settings to the chain: a settings change that alters a contract limit enqueues the admin
call that applies it, in the same database transaction as the new version.

==============================================  =========================================================
setting                                          on chain
==============================================  =========================================================
``provider_min_collateral``                      ``ProviderRegistry.setConfig`` → ``minCollateral``
``maintenance_min_notice``                       ``ProviderRegistry.setConfig`` → ``minNotice``
``maintenance_max_window``                       ``ProviderRegistry.setConfig`` → ``maxWindowLength``
``maintenance_max_windows_per_month``            ``ProviderRegistry.setConfig`` → ``maxWindowsPerMonth``
``platform_fee_bps``                             ``DeploymentEscrow.setFeeParams`` → ``feeBps``
==============================================  =========================================================

Both calls need ``DEFAULT_ADMIN_ROLE``, which :func:`chain.deploy.deploy_suite` gives the backend signer
(the outbox's only signer). The fields settings do not hold (``exitCooldown``, ``keeperShareBps``,
``maxTip``) come from the deployed :class:`chain.deploy.SuiteConfig`, the values ``deploy_suite``
reconciles the chain to. Outbox keys are ``operator-settings:<version>:<kind>``, so a retried commit of
one version never sends twice, and rows are signed in id order, so the newest version lands last.

The chain applies a change only once the outbox row is mined; until then the API must check maintenance
requests against the stricter of the database and the chain (see ``engine.nodes.services.WindowRules``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from chain.contracts import EscrowClient, RegistryClient, RegistryConfig
from chain.deploy import SuiteConfig
from engine.operator import services as operator
from engine.operator.config import OperatorSettings
from engine.outbox.models import OutboxTx
from engine.outbox.services import enqueue

REGISTRY_FIELDS = (
    "provider_min_collateral",
    "maintenance_min_notice",
    "maintenance_max_window",
    "maintenance_max_windows_per_month",
)
FEE_FIELDS = ("platform_fee_bps",)
SET_CONFIG = "registry.setConfig"
SET_FEE_PARAMS = "escrow.setFeeParams"


@dataclass(frozen=True)
class ChainTargets:
    """Where settings go: the deployed contracts and the suite config for fields settings do not hold."""

    registry: RegistryClient
    escrow: EscrowClient
    suite: SuiteConfig


def registry_config(values: OperatorSettings, suite: SuiteConfig) -> RegistryConfig:
    return RegistryConfig(
        min_collateral=values.provider_min_collateral,
        min_notice=values.maintenance_min_notice,
        max_window_length=values.maintenance_max_window,
        exit_cooldown=suite.exit_cooldown,
        max_windows_per_month=values.maintenance_max_windows_per_month,
    )


def fee_params(values: OperatorSettings, suite: SuiteConfig) -> tuple[int, int, int]:
    """``(feeBps, keeperShareBps, maxTip)`` for ``setFeeParams``."""
    return values.platform_fee_bps, suite.keeper_share_bps, suite.max_tip


def apply_to_suite(values: OperatorSettings, base: SuiteConfig) -> SuiteConfig:
    """``base`` (from process settings) with the operator's current on-chain-relevant values laid over it.

    The runtime deploys / reconciles the contracts with this, so a restart keeps what the operator set
    through the API instead of resetting the chain to the environment's values."""
    reg = registry_config(values, base)
    fee_bps, _, _ = fee_params(values, base)
    return replace(
        base,
        min_collateral=reg.min_collateral,
        min_notice=reg.min_notice,
        max_window_length=reg.max_window_length,
        max_windows_per_month=reg.max_windows_per_month,
        fee_bps=fee_bps,
    )


async def operator_suite_config(session: AsyncSession, settings: Any, base: SuiteConfig) -> SuiteConfig:
    """The suite config the chain should have now: process settings overlaid with the operator's newest
    settings version (version 0 — nothing stored — gives ``base`` back unchanged)."""
    kind = operator.SETTINGS
    version = await operator.current(
        session, kind, overrides=operator.overrides_from_settings(settings)[kind]
    )
    return apply_to_suite(OperatorSettings.from_values(version.values), base)


def sync_key(version: int, kind: str) -> str:
    return f"operator-settings:{version}:{kind}"


def _changed(before: Mapping[str, Any], after: Mapping[str, Any], fields: tuple[str, ...]) -> bool:
    return any(before.get(f) != after.get(f) for f in fields)


async def enqueue_chain_sync(
    session: AsyncSession, before: Mapping[str, Any], after: operator.ConfigVersion, targets: ChainTargets
) -> list[OutboxTx]:
    """Enqueue ``setConfig`` / ``setFeeParams`` for what changed from ``before`` to ``after`` (no commit)."""
    rows: list[OutboxTx] = []
    values = OperatorSettings.from_values(after.values)
    if _changed(before, after.values, REGISTRY_FIELDS):
        cfg = registry_config(values, targets.suite)
        rows.append(
            await enqueue(
                session,
                kind=SET_CONFIG,
                to=targets.registry.address,
                data=targets.registry.encode_set_config(cfg),
                idempotency_key=sync_key(after.version, SET_CONFIG),
                args={"settings_version": after.version, **_json(asdict(cfg))},
            )
        )
    if _changed(before, after.values, FEE_FIELDS):
        fee, share, tip = fee_params(values, targets.suite)
        rows.append(
            await enqueue(
                session,
                kind=SET_FEE_PARAMS,
                to=targets.escrow.address,
                data=targets.escrow.encode_set_fee_params(fee, share, tip),
                idempotency_key=sync_key(after.version, SET_FEE_PARAMS),
                args={
                    "settings_version": after.version,
                    "fee_bps": fee,
                    "keeper_share_bps": share,
                    "max_tip": tip,
                },
            )
        )
    return rows


def _json(values: Mapping[str, int]) -> dict[str, Any]:
    # amounts above 2**53 as strings, so every JSON reader gets them exactly
    return {k: (v if v < 2**53 else str(v)) for k, v in values.items()}


async def update_settings(
    session: AsyncSession,
    changes: Mapping[str, Any],
    *,
    actor_user_id: int | None,
    targets: ChainTargets,
    expected_version: int | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> tuple[operator.ConfigVersion, list[OutboxTx]]:
    """:func:`engine.operator.services.update` for settings, plus the chain calls it implies (no commit).

    The diff is taken against the version just below the new one (read in this transaction), so a writer
    that raced ours in between cannot hide a change; the outbox keys make a repeated enqueue for one
    version a no-op.
    """
    seen = (await operator.current(session, operator.SETTINGS, overrides=overrides)).version
    after = await operator.update(
        session,
        operator.SETTINGS,
        changes,
        actor_user_id=actor_user_id,
        expected_version=expected_version,
        overrides=overrides,
    )
    if after.version == seen:
        return after, []  # nothing changed: no new version
    before = await operator.get_version(session, operator.SETTINGS, after.version - 1, overrides=overrides)
    return after, await enqueue_chain_sync(session, before.values, after, targets)
