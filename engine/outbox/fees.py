"""EIP-1559 fee choice and the replacement bump rule, in integer wei.

A replacement at the same nonce must raise BOTH ``maxFeePerGas`` and ``maxPriorityFeePerGas`` by at
least 12.5% (geth's and anvil's default price bump): ``new = max(old + 1, ceil(old * 9 / 8))``, computed
with integers only, then capped at the operator's ``max_fee_cap``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Fees:
    max_fee_per_gas: int
    max_priority_fee_per_gas: int


def bump(old: int) -> int:
    """At least 12.5% more, rounded up, and at least one wei more."""
    return max(old + 1, -((-old * 9) // 8))


def initial_fees(base_fee: int, priority_fee: int, cap: int) -> Fees:
    """``2 * baseFee + tip`` (survives six full blocks of base-fee growth), never above ``cap``."""
    tip = min(priority_fee, cap)
    return Fees(max_fee_per_gas=max(tip, min(2 * base_fee + tip, cap)), max_priority_fee_per_gas=tip)


def bumped_fees(old: Fees, cap: int, base_fee: int = 0) -> Fees | None:
    """Fees for a replacement, or ``None`` when the cap leaves no room for a valid (>= 12.5%) bump.

    Both fields rise by the bump rule; maxFee also follows the current base fee when that is higher.
    Nothing ever goes down and nothing exceeds ``cap``.
    """
    tip = bump(old.max_priority_fee_per_gas)
    max_fee = max(bump(old.max_fee_per_gas), 2 * base_fee + tip)
    max_fee = min(max_fee, cap)
    if tip > max_fee:
        tip = max_fee
    new = Fees(max_fee_per_gas=max_fee, max_priority_fee_per_gas=tip)
    if new.max_fee_per_gas < bump(old.max_fee_per_gas) or new.max_priority_fee_per_gas < bump(
        old.max_priority_fee_per_gas
    ):
        return None  # capped: a node would reject it as "replacement transaction underpriced"
    return new
