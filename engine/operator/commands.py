"""Operator commands: read and change settings and pricing, read their audit history.

Each command owns its transaction. A settings change that alters a contract limit also enqueues
``registry.setConfig`` / ``escrow.setFeeParams`` in the same transaction (:mod:`engine.operator.onchain`),
through the clients on ``ctx.contracts``. Values are the environment defaults (``ctx.settings``) overlaid
with what the operator stored (:mod:`engine.operator.config`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.context import Context
from engine.operator import onchain
from engine.operator import services as operator
from engine.operator.config import OperatorSettings, Pricing
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
