"""Operator commands: read and change settings and pricing, read their audit history.

Each command owns its transaction. A settings change that alters a contract limit also enqueues
``registry.setConfig`` / ``escrow.setFeeParams`` in the same transaction (:mod:`engine.operator.onchain`),
through the clients on ``ctx.contracts``. Values are the environment defaults (``ctx.settings``) overlaid
with what the operator stored (:mod:`engine.operator.config`).

:func:`set_escrow_paused` is the escrow's emergency pause (issue 10): ``setPaused(bool)`` signed by the
backend signer (``PAUSER_ROLE``, granted by :func:`chain.deploy.deploy_suite`) through the outbox, keyed like
the admin reconcile's rows (:mod:`engine.outbox.admin`: a repeated click is one row; pause, unpause, pause
again are three).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chain.contracts import PAUSER_ROLE
from chain.deploy import AdminCall
from engine.context import Context
from engine.operator import onchain
from engine.operator import services as operator
from engine.operator.config import OperatorSettings, Pricing
from engine.operator.errors import PauserMissing
from engine.outbox.admin import admin_key, final_counts, slot_prefix
from engine.outbox.services import enqueue
from engine.runtime import suite_config


@dataclass(frozen=True)
class SettingsVersion:
    version: int
    settings: OperatorSettings
    actor_user_id: int | None
    created_at: datetime | None  # None for version 0 (the defaults)


@dataclass(frozen=True)
class PricingVersion:
    version: int
    pricing: Pricing
    actor_user_id: int | None
    created_at: datetime | None


@dataclass(frozen=True)
class Change:
    """One audit row: who changed ``kind`` to ``version``, with the full values before and after."""

    version: int
    actor_user_id: int | None
    before: dict[str, Any]
    after: dict[str, Any]
    created_at: datetime


def _overrides(ctx: Context, kind: str) -> dict[str, Any]:
    return operator.overrides_from_settings(ctx.settings)[kind]


def _settings(v: operator.ConfigVersion) -> SettingsVersion:
    return SettingsVersion(v.version, OperatorSettings.from_values(v.values), v.actor_user_id, v.created_at)


def _pricing(v: operator.ConfigVersion) -> PricingVersion:
    return PricingVersion(v.version, Pricing.from_values(v.values), v.actor_user_id, v.created_at)


async def _read(ctx: Context, kind: str, version: int | None) -> operator.ConfigVersion:
    async with ctx.sessionmaker() as session:
        if version is None:
            return await operator.current(session, kind, overrides=_overrides(ctx, kind))
        return await operator.get_version(session, kind, version, overrides=_overrides(ctx, kind))


async def get_settings(ctx: Context, version: int | None = None) -> SettingsVersion:
    """The current settings, or ``version``.

    Raises :class:`~engine.operator.errors.UnknownVersion` (no such version)."""
    return _settings(await _read(ctx, operator.SETTINGS, version))


async def get_pricing(ctx: Context, version: int | None = None) -> PricingVersion:
    """The current pricing, or ``version``.

    Raises :class:`~engine.operator.errors.UnknownVersion` (no such version)."""
    return _pricing(await _read(ctx, operator.PRICING, version))


async def put_settings(
    ctx: Context,
    actor_user_id: int | None,
    changes: Mapping[str, Any],
    *,
    expected_version: int | None = None,
) -> SettingsVersion:
    """Merge ``changes`` into the current settings as a new version (plus audit row) and enqueue the
    contract calls for what changed on chain; a change that alters nothing returns the current version.

    Raises :class:`~engine.operator.errors.InvalidConfig` (unknown key, bad value),
    :class:`~engine.operator.errors.VersionConflict` (``expected_version`` is not the current one),
    :class:`~engine.errors.ContractMissing` (no registry or escrow on this chain)."""
    targets = onchain.ChainTargets(
        registry=ctx.contracts.require_registry(),
        escrow=ctx.contracts.require_escrow(),
        suite=suite_config(ctx.settings),
    )
    async with ctx.sessionmaker() as session, session.begin():
        v, _ = await onchain.update_settings(
            session,
            changes,
            actor_user_id=actor_user_id,
            targets=targets,
            expected_version=expected_version,
            overrides=_overrides(ctx, operator.SETTINGS),
        )
    return _settings(v)


async def put_pricing(
    ctx: Context,
    actor_user_id: int | None,
    changes: Mapping[str, Any],
    *,
    expected_version: int | None = None,
) -> PricingVersion:
    """Merge ``changes`` into the current pricing as a new version (plus audit row).

    Raises :class:`~engine.operator.errors.InvalidConfig` (unknown key, bad value),
    :class:`~engine.operator.errors.VersionConflict` (``expected_version`` is not the current one)."""
    async with ctx.sessionmaker() as session, session.begin():
        v = await operator.update(
            session,
            operator.PRICING,
            changes,
            actor_user_id=actor_user_id,
            expected_version=expected_version,
            overrides=_overrides(ctx, operator.PRICING),
        )
    return _pricing(v)


async def history(ctx: Context, kind: str, *, limit: int = 100) -> list[Change]:
    """Audit rows of ``kind`` (``settings`` or ``pricing``), newest first.

    Raises :class:`~engine.operator.errors.InvalidConfig` (unknown kind)."""
    async with ctx.sessionmaker() as session:
        rows = await operator.history(session, kind, limit=limit)
    return [Change(r.version, r.actor_user_id, r.before, r.after, r.created_at) for r in rows]


@dataclass(frozen=True)
class EscrowPause:
    """An emergency pause change: what was asked, the chain's state when asked, and the outbox row that
    carries it (``None``: the chain is in that state already and no change is pending: nothing enqueued)."""

    paused: bool
    chain_paused: bool
    outbox_key: str | None
    outbox_status: str | None


PAUSE_SLOT = "escrow.setPaused"


async def set_escrow_paused(ctx: Context, actor_user_id: int | None, paused: bool) -> EscrowPause:
    """Enqueue ``setPaused(paused)`` on the escrow (backend signer, ``PAUSER_ROLE``). While paused, new
    opens and top-ups revert and the commands that would make them answer 503 ``escrow_paused``
    (:mod:`engine.deployments.pause`); closes, refunds and withdrawals keep working.

    Raises :class:`~engine.operator.errors.PauserMissing` (503: the signer lacks ``PAUSER_ROLE``),
    :class:`~engine.errors.ContractMissing` (503: no escrow on this chain)."""
    escrow = ctx.contracts.require_escrow()
    if not await escrow.has_role(PAUSER_ROLE, ctx.signer_address):
        raise PauserMissing(ctx.signer_address)
    call = AdminCall(
        kind="setPaused",
        slot=PAUSE_SLOT,
        to=escrow.address,
        data=escrow.encode_set_paused(paused),
        args={"paused": paused, "actor_user_id": actor_user_id},
    )
    async with ctx.sessionmaker() as session, session.begin():
        finals = await final_counts(session, ctx.chain_id)  # before the chain read (engine.outbox.admin)
        now_paused = await escrow.paused()
        key = admin_key(ctx.chain_id, call, finals[slot_prefix(ctx.chain_id, call.to, call.slot)])
        pending = await operator.pending_outbox(session, slot_prefix(ctx.chain_id, call.to, call.slot))
        if now_paused == paused and not pending:
            return EscrowPause(paused, now_paused, None, None)
        row = await enqueue(
            session,
            kind=f"admin.{call.kind}",
            to=call.to,
            data=call.data,
            idempotency_key=key,
            args={"slot": call.slot, **call.args},
        )
    return EscrowPause(paused, now_paused, row.idempotency_key, str(row.status))
