"""Staking helpers: tier validation (the contract's bounds, checked before anything is enqueued), the next
tier's needs, the escrow's discount rounding, the per-payer total of open lease rates (the spend rate
reported to the contract), and the reads of the index (an account's indexed position and stake history)
and of a managed wallet's relayed requests (their outbox rows)."""

from __future__ import annotations

from collections.abc import Sequence

from eth_utils.address import to_checksum_address
from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from chain.staking import MAX_DISCOUNT_BPS, MAX_LOCK, MAX_TIERS, StakeInfo, Tier, TierSet
from engine.deployments import models as dm
from engine.money import Bps, CreditUnits, ceil_div
from engine.outbox.models import OutboxStatus, OutboxTx
from engine.staking.errors import InvalidTiers
from engine.staking.models import (
    IndexedPosition,
    NextTier,
    RelayedStaking,
    StakingEvent,
    StakingHistoryItem,
    StakingPosition,
    TierView,
)

BPS = 10_000
UINT96 = 2**96 - 1
HISTORY_LIMIT = 20  # newest indexed stake events shown by GET /api/staking/me


def validate_tiers(tiers: Sequence[Tier], cover_per_token: int) -> None:
    """The contract's ``scheduleTiers`` rules. Raises :class:`InvalidTiers`."""
    if len(tiers) > MAX_TIERS:
        raise InvalidTiers(None, f"at most {MAX_TIERS} tiers")
    if not 0 <= cover_per_token <= UINT96:
        raise InvalidTiers(None, f"cover_per_token must be in [0, {UINT96}]")
    if tiers and cover_per_token == 0:
        raise InvalidTiers(None, "cover_per_token must be positive when there are tiers")
    previous = 0
    for i, t in enumerate(tiers):
        if not previous < t.min_stake <= UINT96:
            raise InvalidTiers(i, "min_stake must be positive, above the previous tier's and below 2**96")
        if not 0 <= t.discount_bps <= MAX_DISCOUNT_BPS:
            raise InvalidTiers(i, f"discount_bps must be in [0, {MAX_DISCOUNT_BPS}]")
        if not 0 <= t.min_lock <= MAX_LOCK:
            raise InvalidTiers(i, f"min_lock must be in [0, {MAX_LOCK}] seconds")
        previous = t.min_stake


def tier_views(tiers: Sequence[Tier], escrow_cap: int) -> list[TierView]:
    return [
        TierView(i + 1, t.min_stake, t.min_lock, Bps(t.discount_bps), Bps(min(t.discount_bps, escrow_cap)))
        for i, t in enumerate(tiers)
    ]


def next_tier(tier_set: TierSet, stake: StakeInfo, level: int, now: int) -> NextTier | None:
    """The tier above ``level`` and what ``stake`` lacks for it at ``now`` (None at the top)."""
    if level >= len(tier_set.tiers):
        return None
    t = tier_set.tiers[level]
    lock_needed = now + t.min_lock if t.min_lock and stake.locked_until < now + t.min_lock else 0
    return NextTier(
        level=level + 1,
        discount_bps=Bps(t.discount_bps),
        min_stake=t.min_stake,
        stake_needed=max(0, t.min_stake - stake.active),
        min_lock=t.min_lock,
        lock_until_needed=lock_needed,
    )


def charged_rate(rate: int, discount_bps: int) -> CreditUnits:
    """The rate the escrow stores for a quoted list ``rate``: rounded up (the escrow's ``Math.Ceil``)."""
    return CreditUnits(ceil_div(rate * (BPS - discount_bps), BPS))


async def open_rates(session: AsyncSession, payers: Sequence[str] | None = None) -> dict[str, CreditUnits]:
    """Σ quoted (list) rate of each payer's open leases, for every payer that ever had a deployment (0 when
    none is open), or only ``payers``."""
    open_rate = func.coalesce(
        func.sum(case((dm.Lease.status == dm.LEASE_OPEN, dm.Lease.rate_per_second), else_=0)), 0
    )
    query = (
        select(dm.Deployment.payer, open_rate)
        .join(dm.Lease, dm.Lease.deployment_id == dm.Deployment.id, isouter=True)
        .group_by(dm.Deployment.payer)
    )
    if payers is not None:
        query = query.where(dm.Deployment.payer.in_(list(payers)))
    return {str(payer): CreditUnits(int(rate)) for payer, rate in (await session.execute(query)).all()}


async def indexed_position(session: AsyncSession, account: str) -> IndexedPosition | None:
    """``account``'s position as the indexed stake events leave it; ``None``: no event indexed."""
    row = await session.get(StakingPosition, to_checksum_address(account))
    if row is None:
        return None
    return IndexedPosition(
        active=row.active,
        cooling=row.cooling,
        cooling_end=row.cooling_end,
        locked_until=row.locked_until,
        staked_total=row.staked_total,
        withdrawn_total=row.withdrawn_total,
        as_of_block=row.last_block,
    )


async def history(
    session: AsyncSession, account: str, limit: int = HISTORY_LIMIT
) -> list[StakingHistoryItem]:
    """``account``'s newest ``limit`` indexed stake events, newest first."""
    rows = await session.scalars(
        select(StakingEvent)
        .where(StakingEvent.account == to_checksum_address(account))
        .order_by(StakingEvent.block_number.desc(), StakingEvent.log_index.desc())
        .limit(limit)
    )
    return [
        StakingHistoryItem(r.kind, r.amount, r.active_after, r.until, r.block_number, r.tx_hash) for r in rows
    ]


def relayed_view(row: OutboxTx) -> RelayedStaking:
    """A relayed staking request's outbox row as the API shows it."""
    status = {OutboxStatus.CONFIRMED: "done", OutboxStatus.FAILED: "failed"}.get(row.status, "pending")
    return RelayedStaking(
        outbox_id=row.id,
        function=row.kind.split(".", 1)[-1],
        status=status,
        nonce=int(row.args["nonce"]),
        deadline=int(row.args["deadline"]),
        tx_hash=row.tx_hash,
        error=row.last_error if status == "failed" else None,
    )
