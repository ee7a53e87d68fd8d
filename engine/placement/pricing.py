"""Quoting a per-second rate for one replica on one node. Integers only; one rounding, up.

    effective_i  = max(node.prices_i, policy.floor_i)                       (price units, exact)
    base         = Σ effective_i * quantity_i                               (price units / second)
    multiplier   = 10_000 + certified_premium_bps   if node.certified else 10_000
    rate         = ceil(base * multiplier / (10_000 * PRICE_SCALE))          (credit units / second)
    platform_fee = ceil(rate * platform_fee_bps / 10_000)                   (shown separately, part of rate)

Rounding is a single ``ceil`` at the end, in the provider's favour (a lease never pays less than the unit
prices say); the fee share rounds up in the protocol's favour. Because every unit price is clamped to
the floor, a rate below ``floor_rate(resources, policy)`` is impossible by construction.
"""

from __future__ import annotations

from engine.deployments.spec import Resources
from engine.money import BPS_DENOMINATOR
from engine.placement.models import PRICE_SCALE, NodeCandidate, PricingPolicy, RateQuote, UnitPrices

RATE_DENOMINATOR = BPS_DENOMINATOR * PRICE_SCALE


def _ceil_div(numerator: int, denominator: int) -> int:
    return -((-numerator) // denominator)


def scaled_cost(resources: Resources, prices: UnitPrices, floor: UnitPrices) -> int:
    """``base`` above: exact price units per second, each unit price clamped to its floor."""
    return (
        max(prices.per_cpu_millicore, floor.per_cpu_millicore) * resources.cpu_millicores
        + max(prices.per_memory_mb, floor.per_memory_mb) * resources.memory_mb
        + max(prices.per_disk_gb, floor.per_disk_gb) * resources.disk_gb
        + max(prices.per_gpu, floor.per_gpu) * resources.gpu_count
    )


def quote_rate(resources: Resources, node: NodeCandidate, pricing: PricingPolicy) -> int:
    """Credit units per second for one replica of ``resources`` on ``node``."""
    multiplier = BPS_DENOMINATOR + (pricing.certified_premium_bps if node.certified else 0)
    return _ceil_div(scaled_cost(resources, node.prices, pricing.floor) * multiplier, RATE_DENOMINATOR)


def quote(resources: Resources, node: NodeCandidate, pricing: PricingPolicy) -> RateQuote:
    rate = quote_rate(resources, node, pricing)
    fee = _ceil_div(rate * pricing.platform_fee_bps, BPS_DENOMINATOR)
    return RateQuote(rate, node.certified and pricing.certified_premium_bps > 0, fee, rate - fee)


def floor_rate(resources: Resources, pricing: PricingPolicy) -> int:
    """The cheapest rate any node can quote for ``resources`` (an uncertified node priced at the floor)."""
    return _ceil_div(scaled_cost(resources, pricing.floor, pricing.floor) * BPS_DENOMINATOR, RATE_DENOMINATOR)
