"""Typed operator configuration: what the operator set, over the environment defaults.

:class:`OperatorSettings` and :class:`Pricing` carry one name per setting, the same name as the
environment default in :class:`engine.settings.Settings` (``CLOUDMARKET_PLATFORM_FEE_BPS`` …) and the
key stored by :mod:`engine.operator.services`; :mod:`engine.operator.onchain` maps them to the
contracts' ``SuiteConfig``/``RegistryConfig``. :func:`current_config` reads both (operator value over
environment default); :func:`pricing_policy` is the one place a placement
:class:`~engine.placement.PricingPolicy` is built from them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from engine.money import Bps, CreditUnits
from engine.operator import services
from engine.placement import PricingPolicy, UnitPrices
from engine.settings import Settings


@dataclass(frozen=True)
class OperatorSettings:
    """Marketplace limits. Durations in seconds, money in credit units, shares in basis points.

    ``maintenance_max_windows_per_month`` is held to ``services.MIN_WINDOWS_PER_MONTH ..
    services.MAX_WINDOWS_PER_MONTH`` (1..8, the registry's own bounds) when set and when defaulted."""

    platform_fee_bps: Bps
    maintenance_min_notice: int
    maintenance_max_window: int
    maintenance_max_windows_per_month: int
    provider_min_collateral: CreditUnits
    max_replicas: int
    max_nodes_per_provider: int
    node_offline_after: int
    regions: tuple[str, ...]
    # low-balance alert thresholds, seconds of runway, descending (engine.alerts; users may override)
    low_balance_thresholds: tuple[int, ...] = services.DEFAULT_LOW_BALANCE_THRESHOLDS
    # SLA policy (engine.sla): target uptime per period, period length (seconds), credit schedule bands
    # (below_bps, credit_bps) in descending order of below_bps
    sla_target_bps: Bps = 9_950  # type: ignore[assignment]  # RUF009: no call in a dataclass default
    sla_period: int = 30 * services.DAY
    sla_credit_schedule: tuple[tuple[int, int], ...] = services.DEFAULT_SLA_CREDIT_SCHEDULE

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> OperatorSettings:
        return cls(
            platform_fee_bps=Bps(int(values["platform_fee_bps"])),
            maintenance_min_notice=int(values["maintenance_min_notice"]),
            maintenance_max_window=int(values["maintenance_max_window"]),
            maintenance_max_windows_per_month=int(values["maintenance_max_windows_per_month"]),
            provider_min_collateral=CreditUnits(int(values["provider_min_collateral"])),
            max_replicas=int(values["max_replicas"]),
            max_nodes_per_provider=int(values["max_nodes_per_provider"]),
            node_offline_after=int(values["node_offline_after"]),
            regions=tuple(values["regions"]),
            low_balance_thresholds=tuple(int(v) for v in values["low_balance_thresholds"]),
            sla_target_bps=Bps(int(values["sla_target_bps"])),
            sla_period=int(values["sla_period"]),
            sla_credit_schedule=tuple((int(b[0]), int(b[1])) for b in values["sla_credit_schedule"]),
        )

    def to_values(self) -> dict[str, Any]:
        """The stored / JSON form (``regions`` as a list)."""
        out = asdict(self)
        out["regions"] = list(self.regions)
        out["low_balance_thresholds"] = list(self.low_balance_thresholds)
        out["sla_credit_schedule"] = [list(b) for b in self.sla_credit_schedule]
        return out


@dataclass(frozen=True)
class Pricing:
    """Floor unit prices (price units, :data:`engine.placement.models.PRICE_SCALE` per credit unit, per
    resource unit per second) and the premium added to certified nodes' rates."""

    floor_per_cpu_millicore: int
    floor_per_memory_mb: int
    floor_per_disk_gb: int
    floor_per_gpu: int
    certified_premium_bps: Bps

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> Pricing:
        return cls(
            floor_per_cpu_millicore=int(values["floor_per_cpu_millicore"]),
            floor_per_memory_mb=int(values["floor_per_memory_mb"]),
            floor_per_disk_gb=int(values["floor_per_disk_gb"]),
            floor_per_gpu=int(values["floor_per_gpu"]),
            certified_premium_bps=Bps(int(values["certified_premium_bps"])),
        )

    def to_values(self) -> dict[str, Any]:
        return asdict(self)


async def current_settings(session: AsyncSession, settings: Settings) -> OperatorSettings:
    """The operator's current settings (environment defaults where the operator set nothing)."""
    overrides = services.overrides_from_settings(settings)[services.SETTINGS]
    version = await services.current(session, services.SETTINGS, overrides=overrides)
    return OperatorSettings.from_values(version.values)


async def current_pricing(session: AsyncSession, settings: Settings) -> Pricing:
    overrides = services.overrides_from_settings(settings)[services.PRICING]
    version = await services.current(session, services.PRICING, overrides=overrides)
    return Pricing.from_values(version.values)


async def current_config(session: AsyncSession, settings: Settings) -> tuple[OperatorSettings, Pricing]:
    """Current operator settings and pricing, operator value over environment default."""
    return await current_settings(session, settings), await current_pricing(session, settings)


def pricing_policy(pricing: Pricing, fee_bps: int) -> PricingPolicy:
    """The placement pricing policy: the operator's floors and premium, and the escrow's fee
    (``fee_bps``, read from the chain: the fee a lease actually pays)."""
    return PricingPolicy(
        floor=UnitPrices(
            pricing.floor_per_cpu_millicore,
            pricing.floor_per_memory_mb,
            pricing.floor_per_disk_gb,
            pricing.floor_per_gpu,
        ),
        certified_premium_bps=pricing.certified_premium_bps,
        platform_fee_bps=fee_bps,
    )
