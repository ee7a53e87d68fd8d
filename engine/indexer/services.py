"""Queries over indexed events: an account's history (paged), events by reference, the cursor.

Pages run newest first; the cursor is the position ``"<block>:<log_index>"`` of the last event handed
out, so a page boundary survives new blocks and reorgs above it.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.indexer.errors import InvalidCursor
from engine.indexer.interfaces import EventPage, IndexedEvent
from engine.indexer.models import ChainEvent, ChainEventAccount, IndexerCursor

MAX_PAGE = 500


def to_indexed(row: ChainEvent, final_block: int | None) -> IndexedEvent:
    return IndexedEvent(
        chain_id=row.chain_id,
        block_number=row.block_number,
        block_hash=row.block_hash,
        tx_hash=row.tx_hash,
        log_index=row.log_index,
        contract=row.contract,
        address=row.address,
        event=row.event,
        args=dict(row.args),
        ref=row.ref,
        final=final_block is not None and row.block_number <= final_block,
    )


def encode_cursor(event: IndexedEvent) -> str:
    return f"{event.block_number}:{event.log_index}"


def decode_cursor(cursor: str) -> tuple[int, int]:
    try:
        block, log_index = (int(part) for part in cursor.split(":"))
    except ValueError:
        raise InvalidCursor(cursor) from None
    if block < 0 or log_index < 0:
        raise InvalidCursor(cursor)
    return block, log_index


async def get_cursor(session: AsyncSession, chain_id: int) -> IndexerCursor | None:
    return await session.get(IndexerCursor, chain_id)


async def final_block(session: AsyncSession, chain_id: int) -> int | None:
    return (
        await session.execute(select(IndexerCursor.final_block).where(IndexerCursor.chain_id == chain_id))
    ).scalar_one_or_none()


def _hex_ref(ref: bytes | str) -> str:
    if isinstance(ref, bytes):
        if len(ref) != 32:
            raise ValueError(f"ref must be 32 bytes, got {len(ref)}")
        return "0x" + ref.hex()
    text = ref.lower()
    if not text.startswith("0x") or len(text) != 66:
        raise ValueError(f"ref must be 0x + 64 hex digits, got {ref!r}")
    return text


async def events_for_account(
    session: AsyncSession,
    chain_id: int,
    address: str,
    *,
    cursor: str | None = None,
    limit: int = 50,
    events: Sequence[str] | None = None,
) -> EventPage:
    """Events whose arguments name ``address`` (transfers in and out, mints...), newest first."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be within 1..{MAX_PAGE}, got {limit}")
    account = address.lower()
    stmt = (
        select(ChainEvent)
        .join(ChainEventAccount, ChainEventAccount.event_id == ChainEvent.id)
        .where(ChainEventAccount.chain_id == chain_id, ChainEventAccount.account == account)
    )
    if events is not None:
        stmt = stmt.where(ChainEvent.event.in_(list(events)))
    if cursor is not None:
        block, log_index = decode_cursor(cursor)
        stmt = stmt.where(
            or_(
                ChainEventAccount.block_number < block,
                and_(ChainEventAccount.block_number == block, ChainEventAccount.log_index < log_index),
            )
        )
    stmt = stmt.order_by(ChainEventAccount.block_number.desc(), ChainEventAccount.log_index.desc())
    rows = (await session.execute(stmt.limit(limit + 1))).scalars().all()
    final = await final_block(session, chain_id)
    page = [to_indexed(row, final) for row in rows[:limit]]
    return EventPage(page, encode_cursor(page[-1]) if len(rows) > limit else None)


async def events_by_ref(
    session: AsyncSession, chain_id: int, ref: bytes | str, *, event: str | None = None
) -> list[IndexedEvent]:
    """Events carrying the bytes32 reference ``ref`` (e.g. the mint of one Stripe payment), oldest first."""
    stmt = select(ChainEvent).where(ChainEvent.chain_id == chain_id, ChainEvent.ref == _hex_ref(ref))
    if event is not None:
        stmt = stmt.where(ChainEvent.event == event)
    rows = (
        (await session.execute(stmt.order_by(ChainEvent.block_number, ChainEvent.log_index))).scalars().all()
    )
    final = await final_block(session, chain_id)
    return [to_indexed(row, final) for row in rows]


async def events_between(
    session: AsyncSession, chain_id: int, after_block: int, up_to_block: int
) -> list[IndexedEvent]:
    """Events in blocks ``after_block < number <= up_to_block``, in chain order."""
    rows = (
        (
            await session.execute(
                select(ChainEvent)
                .where(
                    ChainEvent.chain_id == chain_id,
                    ChainEvent.block_number > after_block,
                    ChainEvent.block_number <= up_to_block,
                )
                .order_by(ChainEvent.block_number, ChainEvent.log_index)
            )
        )
        .scalars()
        .all()
    )
    final = await final_block(session, chain_id)
    return [to_indexed(row, final) for row in rows]
