"""Quoting a per-second rate for one replica on one node. Integers only; one rounding, up.

    effective_i  = max(node.prices_i, policy.floor_i)                       (price units, exact)
    base         = Σ effective_i * quantity_i                               (price units / second)
    multiplier   = 10_000 + certified_premium_bps   if node.certified else 10_000
    rate         = ceil(base * multiplier / (10_000 * PRICE_SCALE))          (credit units / second)
    platform_fee = ceil(rate * platform_fee_bps / 10_000)                   (shown separately, part of rate)

The platform fee is what the escrow charges (:func:`settlement_split`, the contract's own rounding): per
settlement, ``due = rate * elapsed`` (capped by the balance) and ``fee = round(due * feeBps / 10_000)``.
A quote's per-second fee is one second settled alone; the fee of a whole deposit settled at once is
``settlement_split(deposit)``; each further settlement moves at most one unit between the two parts.

Rounding is a single ``ceil`` at the end, in the provider's favour (a lease never pays less than the unit
prices say); the fee share rounds up in the protocol's favour. Because every unit price is clamped to
the floor, a rate below ``floor_rate(resources, policy)`` is impossible by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.deployments.spec import Resources
from engine.money import BPS_DENOMINATOR, Rounding, apply_bps
from engine.placement.models import PRICE_SCALE, NodeCandidate, PricingPolicy, RateQuote, UnitPrices

RATE_DENOMINATOR = BPS_DENOMINATOR * PRICE_SCALE

# How DeploymentEscrow rounds the platform fee of a settlement (issue 10): DOWN, ``due * feeBps / 10_000``,
# so a settlement with anything due always pays the node (``due - fee >= 1`` since feeBps <= 20 %). The fee
# is the one in force when the lease opened. tests/chain/test_deployment_lifecycle.py compares this module
# with the deployed contract over a range of rates, durations and fees.
ESCROW_FEE_ROUNDING = Rounding.FLOOR


@dataclass(frozen=True, slots=True)
class SettlementSplit:
    """One escrow settlement: ``due`` leaves the lease, ``platform_fee`` of it goes to the treasury (and
    keeper), ``provider`` to the node's payee."""

    due: int
    platform_fee: int
    provider: int


def settlement_split(
    rate_per_second: int, seconds: int, fee_bps: int, *, balance: int | None = None
) -> SettlementSplit:
    """What one settlement of a lease at ``rate_per_second`` over ``seconds`` pays, exactly as the escrow
    computes it: ``due = min(balance, rate * seconds)``, the fee ``due * fee_bps / 10_000`` rounded as
    :data:`ESCROW_FEE_ROUNDING`, the rest to the provider."""
    due = rate_per_second * seconds
    if balance is not None:
        due = min(due, balance)
    fee = apply_bps(due, fee_bps, ESCROW_FEE_ROUNDING)
    return SettlementSplit(due, fee, due - fee)


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
    second = settlement_split(rate, 1, pricing.platform_fee_bps)
    premium = node.certified and pricing.certified_premium_bps > 0
    return RateQuote(rate, premium, second.platform_fee, second.provider)


def floor_rate(resources: Resources, pricing: PricingPolicy) -> int:
    """The cheapest rate any node can quote for ``resources`` (an uncertified node priced at the floor)."""
    return _ceil_div(scaled_cost(resources, pricing.floor, pricing.floor) * BPS_DENOMINATOR, RATE_DENOMINATOR)
