"""Apply ``StakingTiers`` stake events to the indexed view (:mod:`engine.staking.models`), and the indexer
subscriber that does it (wired by :mod:`engine.runtime`).

``Staked(account, amount, active, lockedUntil)`` sets the position's active stake and lock;
``UnstakeRequested(account, amount, active, coolingEnd)`` its active stake, adds ``amount`` to cooling and
sets the cooldown's end; ``Withdrawn(account, amount)`` empties cooling. Each also becomes one
``staking_events`` row. Every event names its account; an event at or below the position's
``(last_block, last_log)`` was applied already and is skipped, so a replayed range changes nothing. Changes go
through the ORM inside :func:`engine.indexer.undo.track`, so a reorg's rollback reverts them. Other events of
the contract (tiers, spend reports, roles) are not stake movements: ignored here.
"""

from __future__ import annotations

from collections.abc import Sequence

from eth_utils.address import to_checksum_address
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from engine.indexer import undo
from engine.indexer.interfaces import IndexedEvent
from engine.staking.models import STAKED, UNSTAKE_REQUESTED, WITHDRAWN, StakingEvent, StakingPosition

CONTRACT = "StakingTiers"
STAKE_EVENTS = {"Staked": STAKED, "UnstakeRequested": UNSTAKE_REQUESTED, "Withdrawn": WITHDRAWN}


async def apply_staking_event(session: AsyncSession, event: IndexedEvent) -> None:
    """Apply one ``StakingTiers`` event (see the module docstring)."""
    kind = STAKE_EVENTS.get(event.event)
    if kind is None:
        return
    account = to_checksum_address(str(event.args["account"]))
    amount = event.int_arg("amount")
    position = await session.get(StakingPosition, account)
    if position is None:
        position = StakingPosition(
            account=account,
            active=0,
            cooling=0,
            cooling_end=0,
            locked_until=0,
            staked_total=0,
            withdrawn_total=0,
            last_block=-1,
            last_log=-1,
        )
        session.add(position)
    elif (position.last_block, position.last_log) >= event.position:
        return  # applied already
    position.last_block, position.last_log = event.position
    active_after: int | None = None
    until: int | None = None
    if kind == STAKED:
        active_after, until = event.int_arg("active"), event.int_arg("lockedUntil")
        position.active, position.locked_until = active_after, until
        position.staked_total += amount
    elif kind == UNSTAKE_REQUESTED:
        active_after, until = event.int_arg("active"), event.int_arg("coolingEnd")
        position.active, position.cooling_end = active_after, until
        position.cooling += amount
    else:
        position.cooling, position.cooling_end = 0, 0
        position.withdrawn_total += amount
    session.add(
        StakingEvent(
            account=account,
            kind=kind,
            amount=amount,
            active_after=active_after,
            until=until,
            block_number=event.block_number,
            log_index=event.log_index,
            tx_hash=event.tx_hash,
        )
    )


class StakingSubscriber:
    """Registered with ``EventIndexer.on_events``: applies each committed range's ``StakingTiers`` stake
    events in chain order in ONE database transaction."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def __call__(self, events: Sequence[IndexedEvent]) -> None:
        mine = [e for e in events if e.contract == CONTRACT and e.event in STAKE_EVENTS]
        if not mine:
            return
        async with self.sessionmaker() as session, session.begin():
            for event in mine:
                await undo.track(session, event)  # journaled: a reorg's rollback reverts it
                await apply_staking_event(session, event)
