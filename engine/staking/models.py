"""Staking value types (no tables: stakes and tiers live on chain, writes go through the outbox).

Platform-token amounts have 18 decimals and routinely exceed 2**53: the API renders them as strings.
Rates are credit units per second; discounts basis points.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chain.contracts import UnsignedTx
from chain.staking import StakeInfo, Tier
from engine.money import Bps, CreditUnits


@dataclass(frozen=True)
class TierView:
    level: int  # 1-based
    min_stake: int
    min_lock: int  # seconds of lock still to run at the open (0 = none)
    discount_bps: Bps  # as set
    effective_discount_bps: Bps  # what the escrow applies (capped at its MAX_DISCOUNT_BPS)


@dataclass(frozen=True)
class PendingTiers:
    tiers: list[TierView]
    cover_per_token: int
    activates_at: int  # chain time


@dataclass(frozen=True)
class TiersView:
    """``GET /api/staking/tiers``: the set in force, the one scheduled, and the fixed parameters."""

    staking_address: str
    token_address: str
    tiers: list[TierView]
    cover_per_token: int  # credit units per second covered by one whole staked token (1e18 base units)
    pending: PendingTiers | None
    cooldown: int
    tier_delay: int
    escrow_max_discount_bps: Bps


@dataclass(frozen=True)
class NextTier:
    """What the account lacks for the next tier up: more active stake and / or a longer lock."""

    level: int
    discount_bps: Bps
    min_stake: int
    stake_needed: int  # 0: enough already
    min_lock: int
    lock_until_needed: int  # the lock end it needs now (0: no lock needed or already long enough)


@dataclass(frozen=True)
class MyStaking:
    """``GET /api/staking/me``."""

    address: str
    funding: str  # "wallet" | "managed"
    token_balance: int
    allowance: int
    stake: StakeInfo
    level: int
    discount_bps: Bps  # the oracle's answer now (0 when the spend is not covered)
    effective_discount_bps: Bps  # what the escrow would apply to an open now
    covered_rate: CreditUnits  # what the active stake covers (units/s)
    reported_spend_rate: CreditUnits  # the total open rate last reported on chain
    open_rate: CreditUnits  # the total (list) rate of the account's open leases now, per the engine
    next_tier: NextTier | None
    withdrawable: bool


@dataclass(frozen=True)
class StakingTxs:
    """Unsigned transactions for the caller's own wallet (in order)."""

    address: str
    transactions: list[UnsignedTx] = field(default_factory=list)


@dataclass(frozen=True)
class TierSetRequest:
    """``PUT /api/cloud-operator/staking/tiers``."""

    tiers: list[Tier]
    cover_per_token: int


@dataclass(frozen=True)
class ScheduledTiers:
    outbox_id: int
    status: str
    tiers: list[Tier]
    cover_per_token: int
    earliest_activation: int  # chain time now + the delay; the real time is the mined block's + the delay


@dataclass(frozen=True)
class DiscountPreview:
    """What a payer's lease opens would be charged now: the oracle's discount (capped as the escrow caps it)
    and each quoted list rate after it, ``ceil(rate * (10_000 - d) / 10_000)`` (the escrow's rounding)."""

    payer: str
    discount_bps: Bps
    charged_rate_per_replica: tuple[CreditUnits, ...]
    total_charged_rate_per_second: CreditUnits
