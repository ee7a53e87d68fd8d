"""Node and spec builders shared by the placement tests."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from engine.deployments.spec import BackupConfig, DeploymentSpec, GpuRequest, Resources
from engine.placement import Capacity, NodeCandidate, PricingPolicy, UnitPrices

FLOOR = UnitPrices(1_000, 500, 10_000, 100_000_000)
POLICY = PricingPolicy(FLOOR, certified_premium_bps=1_000, platform_fee_bps=500)


def node(node_id: str = "n1", **kw: Any) -> NodeCandidate:
    base: dict[str, Any] = dict(
        node_id=node_id,
        provider_id=kw.pop("provider_id", "p-" + node_id),
        alliance_id=None,
        region="eu-west",
        country="IE",
        capacity=Capacity(8_000, 16_384, 200, None, 0),
        allocated=Capacity(0, 0, 0, None, 0),
        prices=UnitPrices(2_000, 1_000, 20_000, 200_000_000),
        attributes=frozenset({"ssd"}),
        certified=False,
        provider_approved=True,
        online=True,
        in_maintenance=False,
        uptime_bps=9_990,
        bandwidth_mbps=1_000,
    )
    base.update(kw)
    return NodeCandidate(**base)


def spec(**kw: Any) -> DeploymentSpec:
    base: dict[str, Any] = dict(resources=Resources(1_000, 1_024, 10), image="nginx")
    base.update(kw)
    return DeploymentSpec(**base)


def gpu_spec(model: str = "a100", count: int = 1, **kw: Any) -> DeploymentSpec:
    return spec(resources=Resources(1_000, 1_024, 10, GpuRequest(model, count)), **kw)


def with_backup(s: DeploymentSpec, different_region: bool = False) -> DeploymentSpec:
    return replace(s, backup=BackupConfig(True, different_region))
