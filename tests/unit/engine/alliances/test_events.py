"""Applying AllianceSplits events to the indexed view: the lifecycle, and a replayed event changes nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.alliances.events import apply_alliance_event
from engine.alliances.models import Alliance, AllianceMember, AllianceNode, AllianceText

A = "0x" + "aa" * 20
B = "0x" + "bB" * 20
NAME_HASH = "0x" + "01" * 32

_log = iter(range(1, 10**6))


def ev(name: str, **args: Any) -> Any:
    from engine.indexer.interfaces import IndexedEvent

    return IndexedEvent(
        chain_id=31337,
        block_number=10,
        block_hash="0x" + "00" * 32,
        tx_hash="0x" + "00" * 32,
        log_index=next(_log),
        contract="AllianceSplits",
        address="0x" + "cc" * 20,
        event=name,
        args={k: str(v) if isinstance(v, int) else v for k, v in args.items()},
        ref=None,
        final=True,
    )


async def test_lifecycle_and_replay(db_session: AsyncSession) -> None:
    session = db_session
    session.add(AllianceText(hash=NAME_HASH, text="North"))
    events = [
        ev(
            "AllianceProposed",
            allianceId=7,
            proposer=A,
            admin=A,
            nameHash=NAME_HASH,
            termsHash="0x" + "02" * 32,
            noticePeriod=60,
            maxUnitsPerNode=100,
        ),
        ev("MemberAccepted", allianceId=7, account=A),
        ev("MemberInvited", allianceId=7, account=B),
        ev("MemberAccepted", allianceId=7, account=B),
        ev("NodeContributed", allianceId=7, account=B, nodeId=3, units=5),
        ev("WeightChanged", allianceId=7, account=B, weight=5, totalShares=5),
        ev("RevenueBooked", allianceId=7, nodeId=3, **{"from": A}, amount=1_000, accPerShare=1),
        ev("Claimed", allianceId=7, account=B, amount=999),
        ev("NodeExitRequested", allianceId=7, nodeId=3, exitAt=500),
    ]
    for event in events:
        await apply_alliance_event(session, event)
    for event in events:  # a replayed range: every event is at or below the alliance's position
        await apply_alliance_event(session, event)
    await session.flush()
    alliance = await session.get(Alliance, 7)
    assert alliance is not None
    assert (alliance.name, alliance.total_shares, alliance.received) == ("North", 5, 1_000)
    b = await session.get(AllianceMember, (7, B))
    assert b is not None
    assert (b.status, b.weight, b.units, b.nodes, b.claimed) == ("active", 5, 5, 1, 999)
    node = await session.get(AllianceNode, 3)
    assert node is not None and node.exit_at == 500

    for event in (
        ev("NodeWithdrawn", allianceId=7, account=B, nodeId=3, units=5),
        ev("WeightChanged", allianceId=7, account=B, weight=0, totalShares=0),
        ev("LeaveRequested", allianceId=7, account=B, leaveAt=900),
        ev("MemberLeft", allianceId=7, account=B),
    ):
        await apply_alliance_event(session, event)
    await session.flush()
    assert await session.get(AllianceNode, 3) is None
    await session.refresh(b)
    assert (b.status, b.weight, b.units, b.nodes, b.leave_at) == ("left", 0, 0, 0, None)


async def test_the_contracts_access_control_events_are_not_an_alliances(db_session: AsyncSession) -> None:
    """RoleGranted and the default-admin events come from the same address and carry no ``allianceId``:
    they are skipped, not a KeyError that loses the whole indexed range."""
    before = (await db_session.execute(select(func.count()).select_from(Alliance))).scalar_one()
    await apply_alliance_event(db_session, ev("RoleGranted", role="0x" + "00" * 32, account=A, sender=A))
    delay = ev("DefaultAdminDelayChangeScheduled", newDelay=1, effectSchedule=2)
    await apply_alliance_event(db_session, delay)
    assert (await db_session.execute(select(func.count()).select_from(Alliance))).scalar_one() == before
