"""Applying StakingTiers stake events to the index (engine.staking.events): the position follows the events,
a replayed event changes nothing, other events are ignored, and a reorg's rollback (the undo journal)
takes back exactly what the events above the fork did."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.indexer import undo
from engine.indexer.interfaces import IndexedEvent
from engine.staking.events import apply_staking_event
from engine.staking.models import StakingEvent, StakingPosition

CHAIN = 31337
A = "0x" + "aB" * 20  # not EIP-55: stored checksummed
A_SUM = "0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB"
UNIT = 10**18
BIG = 2**95  # beyond BIGINT: exact as a decimal string


def ev(block: int, name: str, log_index: int = 0, **args: Any) -> IndexedEvent:
    return IndexedEvent(
        chain_id=CHAIN,
        block_number=block,
        block_hash="0x" + f"{block:064x}",
        tx_hash="0x" + f"{block:032x}{log_index:032x}",
        log_index=log_index,
        contract="StakingTiers",
        address="0x" + "cc" * 20,
        event=name,
        args={k: str(v) if isinstance(v, int) else v for k, v in args.items()},
        ref=None,
        final=True,
    )


async def _position(s: AsyncSession) -> tuple[int, ...] | None:
    s.expunge_all()
    row = await s.get(StakingPosition, A_SUM)
    if row is None:
        return None
    return (row.active, row.cooling, row.cooling_end, row.locked_until, row.staked_total, row.withdrawn_total)


async def _events(s: AsyncSession) -> int:
    return int(await s.scalar(select(func.count()).select_from(StakingEvent)) or 0)


async def test_position_follows_the_events_and_a_replay_changes_nothing(db_session: AsyncSession) -> None:
    s = db_session
    events = [
        ev(10, "Staked", account=A, amount=BIG, active=BIG, lockedUntil=500),
        ev(10, "SpendRateReported", 1, account=A, ratePerSecond=7),  # not a stake movement
        ev(11, "Staked", account=A, amount=UNIT, active=BIG + UNIT, lockedUntil=500),
        ev(12, "UnstakeRequested", account=A, amount=UNIT, active=BIG, coolingEnd=900),
        ev(13, "Withdrawn", account=A, amount=UNIT),
    ]
    for event in events + events:  # the second pass is a replayed range
        await apply_staking_event(s, event)
    await s.flush()
    assert await _position(s) == (BIG, 0, 0, 500, BIG + UNIT, UNIT)
    kinds = (await s.scalars(select(StakingEvent.kind).order_by(StakingEvent.block_number))).all()
    assert kinds == ["staked", "staked", "unstake_requested", "withdrawn"]
    first = (await s.scalars(select(StakingEvent).order_by(StakingEvent.id).limit(1))).one()
    assert (first.account, first.amount, first.active_after, first.until) == (A_SUM, BIG, BIG, 500)


async def test_a_rollback_takes_back_the_events_above_the_fork(db_session: AsyncSession) -> None:
    s = db_session
    for event in (
        ev(20, "Staked", account=A, amount=5 * UNIT, active=5 * UNIT, lockedUntil=0),
        ev(21, "UnstakeRequested", account=A, amount=2 * UNIT, active=3 * UNIT, coolingEnd=800),
        ev(22, "Withdrawn", account=A, amount=2 * UNIT),
    ):
        await undo.track(s, event)
        await apply_staking_event(s, event)
    await undo.track(s, None)
    assert await _position(s) == (3 * UNIT, 0, 0, 0, 5 * UNIT, 2 * UNIT)

    await undo.revert_above(s, CHAIN, 20)  # blocks 21 and 22 orphaned
    assert await _position(s) == (5 * UNIT, 0, 0, 0, 5 * UNIT, 0)
    assert await _events(s) == 1
    # the new fork's event applies as on a first pass (the position's mark went back with it)
    replacement = ev(21, "UnstakeRequested", account=A, amount=UNIT, active=4 * UNIT, coolingEnd=850)
    await undo.track(s, replacement)
    await apply_staking_event(s, replacement)
    await undo.track(s, None)
    assert await _position(s) == (4 * UNIT, UNIT, 850, 0, 5 * UNIT, 0)

    await undo.revert_above(s, CHAIN, 0)
    assert await _position(s) is None and await _events(s) == 0
