"""Staking value types and the indexed view of ``StakingTiers`` (the chain is the truth: stakes and tiers live
there, writes go through the outbox; these tables are for history and queries).

* ``staking_positions``: one row per staker, the packed slot as the events left it (``Staked`` sets active and
  the lock, ``UnstakeRequested`` active, cooling and its end, ``Withdrawn`` empties cooling), plus the totals
  staked and withdrawn; ``last_block`` / ``last_log`` is the last event applied (older or equal ones are
  skipped, so a replayed range changes nothing);
* ``staking_events``: each of those events (``kind`` ``staked`` / ``unstake_requested`` / ``withdrawn``).
Both are written by :class:`engine.staking.events.StakingSubscriber` under the undo journal (reorg-safe).

Platform-token amounts have 18 decimals and routinely exceed 2**53: decimal strings in the database
(``WeiString``) and in the API. Rates are credit units per second; discounts basis points.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import BigInteger, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from chain.contracts import UnsignedTx
from chain.staking import StakeInfo, Tier
from engine.db import Base
from engine.money import Bps, CreditUnits
from engine.outbox.models import WeiString

STAKED, UNSTAKE_REQUESTED, WITHDRAWN = "staked", "unstake_requested", "withdrawn"


class StakingPosition(Base):
    __tablename__ = "staking_positions"

    account: Mapped[str] = mapped_column(String(42), primary_key=True)  # EIP-55
    active: Mapped[int] = mapped_column(WeiString(), nullable=False, default=0)
    cooling: Mapped[int] = mapped_column(WeiString(), nullable=False, default=0)
    cooling_end: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    locked_until: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    staked_total: Mapped[int] = mapped_column(WeiString(), nullable=False, default=0)
    withdrawn_total: Mapped[int] = mapped_column(WeiString(), nullable=False, default=0)
    last_block: Mapped[int] = mapped_column(BigInteger, nullable=False)
    last_log: Mapped[int] = mapped_column(BigInteger, nullable=False)


class StakingEvent(Base):
    __tablename__ = "staking_events"
    __table_args__ = (
        UniqueConstraint("block_number", "log_index"),
        Index("ix_staking_events_account_block", "account", "block_number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(42), nullable=False)  # EIP-55
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    amount: Mapped[int] = mapped_column(WeiString(), nullable=False)
    active_after: Mapped[int | None] = mapped_column(WeiString(), nullable=True)  # staked / unstake_requested
    until: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # lock end (staked), cooldown end
    block_number: Mapped[int] = mapped_column(BigInteger, nullable=False)
    log_index: Mapped[int] = mapped_column(BigInteger, nullable=False)
    tx_hash: Mapped[str] = mapped_column(String(66), nullable=False)


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
class RelayedStaking:
    """A managed wallet's relayed staking request: its outbox row (the record), read back."""

    outbox_id: int
    function: str  # "stakeBySig" | "requestUnstakeBySig" | "withdrawBySig"
    status: str  # "pending" | "done" | "failed"
    nonce: int
    deadline: int  # chain time
    tx_hash: str | None
    error: str | None  # the decoded revert of a failed request


@dataclass(frozen=True)
class StakingHistoryItem:
    """One indexed stake event of the account (newest first in :class:`MyStaking`)."""

    kind: str  # "staked" | "unstake_requested" | "withdrawn"
    amount: int
    active_after: int | None  # the active stake after it (staked, unstake_requested)
    until: int | None  # the lock end (staked) or the cooldown's end (unstake_requested)
    block_number: int
    tx_hash: str


@dataclass(frozen=True)
class IndexedPosition:
    """The account's stake as the indexed events leave it (may trail the chain by the indexer's lag)."""

    active: int
    cooling: int
    cooling_end: int
    locked_until: int
    staked_total: int
    withdrawn_total: int
    as_of_block: int


@dataclass(frozen=True)
class MyStaking:
    """``GET /api/staking/me``. The figures are read from the chain (the truth); ``indexed`` and ``history``
    come from the index (no chain reads); ``relay`` is a managed wallet's newest relayed request."""

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
    indexed: IndexedPosition | None = None
    history: list[StakingHistoryItem] = field(default_factory=list)
    relay: RelayedStaking | None = None


@dataclass(frozen=True)
class StakingTxs:
    """Unsigned transactions for the caller's own wallet (in order), or, for a managed wallet, none and the
    relayed request (``relayed``)."""

    address: str
    transactions: list[UnsignedTx] = field(default_factory=list)
    relayed: RelayedStaking | None = None


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
