"""Apply ``AllianceSplits`` events to the indexed view (:mod:`engine.alliances.models`), and the indexer
subscriber that does it (wired by :mod:`engine.runtime`).

Every event names its alliance; an event at or below the alliance's ``(last_block, last_log)`` was applied
already and is skipped, so a replayed range changes nothing. Changes go through the ORM inside
:func:`engine.indexer.undo.track`, so a reorg's rollback reverts them (``engine.indexer.undo``).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from engine.alliances.models import (
    ACTIVE,
    INVITED,
    LEAVING,
    LEFT,
    SUSPENDED,
    Alliance,
    AllianceMember,
    AllianceNode,
    AllianceText,
)
from engine.indexer import undo
from engine.indexer.interfaces import IndexedEvent

CONTRACT = "AllianceSplits"
_STATUS_BY_EVENT = {
    "MemberInvited": INVITED,
    "MemberAccepted": ACTIVE,
    "MemberLeft": LEFT,
    "MemberSuspended": SUSPENDED,
    "MemberReinstated": ACTIVE,
}


async def _member(session: AsyncSession, alliance_id: int, account: str) -> AllianceMember:
    row = await session.get(AllianceMember, (alliance_id, account))
    if row is None:
        row = AllianceMember(
            alliance_id=alliance_id, account=account, status=INVITED, weight=0, units=0, nodes=0, claimed=0
        )
        session.add(row)
    return row


async def _proposed(session: AsyncSession, event: IndexedEvent) -> None:
    alliance_id = event.int_arg("allianceId")
    if await session.get(Alliance, alliance_id) is not None:
        return
    name_hash = str(event.args["nameHash"]).lower()
    text = await session.scalar(select(AllianceText.text).where(AllianceText.hash == name_hash))
    session.add(
        Alliance(
            id=alliance_id,
            name=text[:200] if text is not None else None,
            name_hash=name_hash,
            terms_hash=str(event.args["termsHash"]).lower(),
            proposer=str(event.args["proposer"]),
            admin=str(event.args["admin"]),
            notice_period=event.int_arg("noticePeriod"),
            max_units_per_node=event.int_arg("maxUnitsPerNode"),
            total_shares=0,
            received=0,
            created_block=event.block_number,
            last_block=event.block_number,
            last_log=event.log_index,
        )
    )
    await session.flush()  # the member rows below refer to it


async def apply_alliance_event(session: AsyncSession, event: IndexedEvent) -> None:
    """Apply one ``AllianceSplits`` event (see the module docstring)."""
    name = event.event
    if "allianceId" not in event.args:
        return  # access-control events (RoleGranted, DefaultAdmin...) of the contract: no alliance
    alliance_id = event.int_arg("allianceId")
    if name == "AllianceProposed":
        await _proposed(session, event)
        return
    alliance = await session.get(Alliance, alliance_id)
    if alliance is None or (alliance.last_block, alliance.last_log) >= event.position:
        return  # before the proposal (cannot happen on one chain) or applied already
    alliance.last_block, alliance.last_log = event.position
    args = event.args
    if name in _STATUS_BY_EVENT:
        member = await _member(session, alliance_id, str(args["account"]))
        member.status = _STATUS_BY_EVENT[name]
        if name in ("MemberLeft", "MemberSuspended"):
            member.leave_at = None
    elif name == "LeaveRequested":
        member = await _member(session, alliance_id, str(args["account"]))
        member.status, member.leave_at = LEAVING, event.int_arg("leaveAt")
    elif name == "WeightChanged":
        member = await _member(session, alliance_id, str(args["account"]))
        member.weight = event.int_arg("weight")
        alliance.total_shares = event.int_arg("totalShares")
    elif name == "NodeContributed":
        member = await _member(session, alliance_id, str(args["account"]))
        member.nodes += 1
        member.units += event.int_arg("units")
        session.add(
            AllianceNode(
                chain_node_id=event.int_arg("nodeId"),
                alliance_id=alliance_id,
                member=member.account,
                units=event.int_arg("units"),
            )
        )
    elif name == "NodeExitRequested":
        node = await session.get(AllianceNode, event.int_arg("nodeId"))
        if node is not None:
            node.exit_at = event.int_arg("exitAt")
    elif name == "NodeWithdrawn":
        member = await _member(session, alliance_id, str(args["account"]))
        member.nodes = max(0, member.nodes - 1)
        member.units = max(0, member.units - event.int_arg("units"))
        node = await session.get(AllianceNode, event.int_arg("nodeId"))
        if node is not None:
            await session.delete(node)
    elif name == "RevenueBooked":
        alliance.received += event.int_arg("amount")
    elif name == "Claimed":
        member = await _member(session, alliance_id, str(args["account"]))
        member.claimed += event.int_arg("amount")


class AllianceSubscriber:
    """Registered with ``EventIndexer.on_events``: applies each committed range's ``AllianceSplits`` events
    in chain order in ONE database transaction."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def __call__(self, events: Sequence[IndexedEvent]) -> None:
        mine = [e for e in events if e.contract == CONTRACT]
        if not mine:
            return
        async with self.sessionmaker() as session, session.begin():
            for event in mine:
                await undo.track(session, event)  # journaled: a reorg's rollback reverts it
                await apply_alliance_event(session, event)
