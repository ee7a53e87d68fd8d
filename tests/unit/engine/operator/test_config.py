"""Typed operator configuration: environment defaults under the operator's stored values, one name each,
and the one pricing policy built from them."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from engine.money import Bps, CreditUnits
from engine.operator import services as operator
from engine.operator.config import OperatorSettings, Pricing, current_config, pricing_policy
from engine.operator.errors import InvalidConfig
from engine.placement import PricingPolicy, UnitPrices
from engine.settings import SettingsError, load_settings

ENV = {
    "CLOUDMARKET_PLATFORM_FEE_BPS": "250",
    "CLOUDMARKET_MAINTENANCE_MIN_NOTICE": "600",
    "CLOUDMARKET_MAINTENANCE_MAX_WINDOW": "1800",
    "CLOUDMARKET_MAINTENANCE_MAX_WINDOWS_PER_MONTH": "2",
    "CLOUDMARKET_PROVIDER_MIN_COLLATERAL": "5000000",
    "CLOUDMARKET_MAX_REPLICAS": "3",
    "CLOUDMARKET_MAX_NODES_PER_PROVIDER": "7",
    "CLOUDMARKET_NODE_OFFLINE_AFTER": "30",
    "CLOUDMARKET_LOW_BALANCE_THRESHOLDS": "3600,172800",
}


async def test_environment_defaults_then_operator_values(db_session: AsyncSession) -> None:
    settings = load_settings(ENV)
    cfg, pricing = await current_config(db_session, settings)
    assert cfg == OperatorSettings(
        platform_fee_bps=Bps(250),
        maintenance_min_notice=600,
        maintenance_max_window=1800,
        maintenance_max_windows_per_month=2,
        provider_min_collateral=CreditUnits(5_000_000),
        max_replicas=3,
        max_nodes_per_provider=7,
        node_offline_after=30,
        regions=tuple(operator.DEFAULT_REGIONS),
        low_balance_thresholds=(172_800, 3_600),  # stored descending
    )
    # every field has the name of its environment variable and of its stored key
    assert set(cfg.to_values()) == set(operator.SETTINGS_FIELDS) | {
        "regions",
        "low_balance_thresholds",
        "sla_credit_schedule",
    }
    assert all(hasattr(settings, name) for name in operator.SETTINGS_FIELDS)
    assert set(pricing.to_values()) == set(operator.PRICING_FIELDS)

    overrides = operator.overrides_from_settings(settings)[operator.SETTINGS]
    await operator.update(
        db_session,
        operator.SETTINGS,
        {"max_replicas": 5, "regions": ["eu-west"]},
        actor_user_id=None,
        overrides=overrides,
    )
    await operator.update(db_session, operator.PRICING, {"floor_per_gpu": 9}, actor_user_id=None)
    cfg, pricing = await current_config(db_session, settings)
    assert (cfg.max_replicas, cfg.regions, cfg.max_nodes_per_provider) == (5, ("eu-west",), 7)
    assert cfg.low_balance_thresholds == (172_800, 3_600)
    assert pricing.floor_per_gpu == 9


def test_pricing_policy_is_the_floors_premium_and_fee() -> None:
    pricing = Pricing(
        floor_per_cpu_millicore=1,
        floor_per_memory_mb=2,
        floor_per_disk_gb=3,
        floor_per_gpu=4,
        certified_premium_bps=Bps(500),
    )
    assert pricing_policy(pricing, 700) == PricingPolicy(
        floor=UnitPrices(1, 2, 3, 4), certified_premium_bps=500, platform_fee_bps=700
    )


async def test_low_balance_thresholds_are_checked_and_kept_descending(db_session: AsyncSession) -> None:
    settings = load_settings({})
    default = (await current_config(db_session, settings))[0].low_balance_thresholds
    assert default == (7 * 86_400, 86_400, 21_600)
    overrides = operator.overrides_from_settings(settings)[operator.SETTINGS]
    for bad in ([], [60], [3600, 3600], [1, 2, 3, 4, 5, 6], ["3600"], [True], 3600, [91 * 86_400]):
        with pytest.raises(InvalidConfig) as info:
            await operator.update(
                db_session,
                operator.SETTINGS,
                {"low_balance_thresholds": bad},
                actor_user_id=None,
                overrides=overrides,
            )
        assert info.value.field == "low_balance_thresholds"
    change = {"low_balance_thresholds": [600, 7200]}
    await operator.update(db_session, operator.SETTINGS, change, actor_user_id=None, overrides=overrides)
    assert (await current_config(db_session, settings))[0].low_balance_thresholds == (7200, 600)
    with pytest.raises(SettingsError):
        load_settings({"CLOUDMARKET_LOW_BALANCE_THRESHOLDS": "6h"})


async def test_sla_policy_defaults_from_the_environment_and_checked_bands(db_session: AsyncSession) -> None:
    settings = load_settings(
        {"CLOUDMARKET_SLA_CREDIT_SCHEDULE": "9000:3000,9990:500", "CLOUDMARKET_SLA_PERIOD": "600"}
    )
    cfg = (await current_config(db_session, settings))[0]
    assert (cfg.sla_target_bps, cfg.sla_period) == (9_950, 600)
    assert cfg.sla_credit_schedule == ((9_990, 500), (9_000, 3_000))  # kept descending
    for bad in ([], [[9_000, 100], [9_500, 200]], [[0, 1]], [[9_000, 1], [9_000, 2]], "9000-100"):
        with pytest.raises(InvalidConfig):
            operator.credit_schedule(bad)
    with pytest.raises(SettingsError):
        load_settings({"CLOUDMARKET_SLA_CREDIT_SCHEDULE": "x"})
