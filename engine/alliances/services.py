"""Queries and rules behind the alliance commands: whose wallet is what in an alliance, the caller's nodes,
and the capacity-unit formula a contributed node declares.

Capacity units (the weight a node brings; the contract bounds them to ``1..maxUnitsPerNode``)::

    units = cpu_millicores // 1000 + memory_mb // 4096 + 8 * gpu_count     (at least 1)

i.e. one unit per whole vCPU, one per 4 GiB of memory, eight per GPU, from the capacity the provider
registered for the node (``nodes`` table), clamped to the alliance's per-node cap.
"""

from __future__ import annotations

from collections.abc import Sequence

from eth_utils.address import to_checksum_address
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.alliances.errors import AllianceNotFound, NodeNotFound, NodeNotOnChain, NotYourWallet
from engine.alliances.models import MEMBER_STATES, Alliance, AllianceMember, AllianceNode, AllianceText
from engine.nodes.models import Node
from engine.outbox.models import OutboxStatus, OutboxTx

MILLICORES_PER_UNIT = 1_000
MEMORY_MB_PER_UNIT = 4_096
UNITS_PER_GPU = 8


def capacity_units(node: Node, max_units: int) -> int:
    """The node's declared units (see the module docstring), in ``1..max_units``."""
    units = (
        node.cpu_millicores // MILLICORES_PER_UNIT
        + node.memory_mb // MEMORY_MB_PER_UNIT
        + UNITS_PER_GPU * node.gpu_count
    )
    return max(1, min(units, max_units))


def own_wallet(wallets: Sequence[str], wallet: str) -> str:
    """``wallet`` checksummed, if it is one of the caller's; else :class:`NotYourWallet`."""
    address = to_checksum_address(wallet)
    if address not in {to_checksum_address(w) for w in wallets}:
        raise NotYourWallet(address)
    return address


async def save_text(session: AsyncSession, hash_hex: str, text: str) -> None:
    if await session.get(AllianceText, hash_hex) is None:
        session.add(AllianceText(hash=hash_hex, text=text))


async def visible_alliance(session: AsyncSession, alliance_id: int, wallets: Sequence[str]) -> Alliance:
    """The alliance, if one of ``wallets`` is its admin or was invited to it (any status but none); else
    :class:`AllianceNotFound` (an outsider learns nothing, not even that it exists)."""
    alliance = await session.get(Alliance, alliance_id)
    mine = {to_checksum_address(w) for w in wallets}
    if alliance is None:
        raise AllianceNotFound(alliance_id)
    if alliance.admin in mine:
        return alliance
    found = await session.scalar(
        select(AllianceMember.account).where(
            AllianceMember.alliance_id == alliance_id, AllianceMember.account.in_(mine)
        )
    )
    if found is None:
        raise AllianceNotFound(alliance_id)
    return alliance


async def my_membership(
    session: AsyncSession, alliance_id: int, wallets: Sequence[str], statuses: frozenset[str]
) -> AllianceMember | None:
    """The caller's membership row in one of ``statuses`` (the first wallet in address order), or ``None``."""
    mine = sorted({to_checksum_address(w) for w in wallets})
    if not mine:
        return None
    rows = await session.scalars(
        select(AllianceMember)
        .where(
            AllianceMember.alliance_id == alliance_id,
            AllianceMember.account.in_(mine),
            AllianceMember.status.in_(statuses),
        )
        .order_by(AllianceMember.account)
    )
    return rows.first()


async def members(session: AsyncSession, alliance_id: int) -> list[AllianceMember]:
    rows = await session.scalars(
        select(AllianceMember)
        .where(AllianceMember.alliance_id == alliance_id)
        .order_by(AllianceMember.account)
    )
    return list(rows)


async def nodes_of(session: AsyncSession, alliance_id: int) -> list[AllianceNode]:
    rows = await session.scalars(
        select(AllianceNode)
        .where(AllianceNode.alliance_id == alliance_id)
        .order_by(AllianceNode.chain_node_id)
    )
    return list(rows)


async def alliances_of(session: AsyncSession, wallets: Sequence[str]) -> list[Alliance]:
    """Alliances where one of ``wallets`` is the admin or a member (invited to left), newest first."""
    mine = {to_checksum_address(w) for w in wallets}
    if not mine:
        return []
    member_of = select(AllianceMember.alliance_id).where(
        AllianceMember.account.in_(mine), AllianceMember.status.in_(MEMBER_STATES)
    )
    rows = await session.scalars(
        select(Alliance)
        .where(or_(Alliance.admin.in_(mine), Alliance.id.in_(member_of)))
        .order_by(Alliance.id.desc())
    )
    return list(rows)


async def own_chain_node(session: AsyncSession, user_id: int, node_id: int) -> Node:
    """The caller's node ``node_id`` (our id) with its registry id; else NodeNotFound / NodeNotOnChain."""
    node = await session.get(Node, node_id)
    if node is None or node.provider_user_id != user_id:
        raise NodeNotFound(node_id)
    if node.chain_node_id is None or node.wallet_address is None:
        raise NodeNotOnChain(node_id)
    return node


# ---- operator: suspend / reinstate through the outbox, the overview ------------------------------------

MEMBER_KEY = "alliance-member"  # outbox keys of the operator's suspend / reinstate rows


def member_prefix(chain_id: int, alliance_id: int, account: str) -> str:
    """Outbox key prefix of one member's suspend / reinstate rows: ``<prefix><generation>:<action>``."""
    return f"{MEMBER_KEY}:{chain_id}:{alliance_id}:{account.lower()}:"


async def outbox_generation(session: AsyncSession, prefix: str) -> tuple[int, int]:
    """(final rows, pending rows) under ``prefix``. The final count is the member's action generation: a
    repeated click while a row is pending makes the same key (one row); once it is final (confirmed or
    failed), the next action is a new generation."""
    rows = await session.execute(
        select(OutboxTx.status, func.count())
        .where(OutboxTx.idempotency_key.startswith(prefix, autoescape=True))
        .group_by(OutboxTx.status)
    )
    final = pending = 0
    for status, count in rows.all():
        if status in (OutboxStatus.CONFIRMED, OutboxStatus.FAILED):
            final += int(count)
        else:
            pending += int(count)
    return final, pending


async def all_alliances(
    session: AsyncSession, limit: int
) -> list[tuple[Alliance, list[AllianceMember], int]]:
    """Every indexed alliance (newest ``limit``) with its member rows and its contributed node count."""
    alliances = list(await session.scalars(select(Alliance).order_by(Alliance.id.desc()).limit(limit)))
    ids = [a.id for a in alliances]
    if not ids:
        return []
    rows = await session.scalars(
        select(AllianceMember)
        .where(AllianceMember.alliance_id.in_(ids))
        .order_by(AllianceMember.alliance_id, AllianceMember.account)
    )
    by_alliance: dict[int, list[AllianceMember]] = {i: [] for i in ids}
    for m in rows:
        by_alliance[m.alliance_id].append(m)
    counts = dict(
        (
            await session.execute(
                select(AllianceNode.alliance_id, func.count())
                .where(AllianceNode.alliance_id.in_(ids))
                .group_by(AllianceNode.alliance_id)
            )
        ).all()
    )
    return [(a, by_alliance[a.id], int(counts.get(a.id, 0))) for a in alliances]
