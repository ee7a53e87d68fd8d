"""The indexer's writes: a range of events + block hashes + cursor in one transaction, and rollbacks.

A rollback also reverts what the subscribers derived from the removed events (their undo journal,
:mod:`engine.indexer.undo`), in the same transaction: the events and their effects go together.

Every write checks the cursor it started from (optimistic concurrency): a second indexer on the same
chain gets :class:`~engine.indexer.errors.IndexerConflict` instead of duplicating or losing events.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from engine.indexer import undo
from engine.indexer.decoding import DecodedLog
from engine.indexer.errors import IndexerConflict
from engine.indexer.fetch import BlockHeader
from engine.indexer.models import ChainBlock, ChainEvent, ChainEventAccount, IndexerCursor, utcnow


async def stored_blocks(session: AsyncSession, chain_id: int, up_to: int) -> list[ChainBlock]:
    """Stored blocks at or below ``up_to``, newest first."""
    stmt = (
        select(ChainBlock)
        .where(ChainBlock.chain_id == chain_id, ChainBlock.number <= up_to)
        .order_by(ChainBlock.number.desc())
    )
    return list((await session.execute(stmt)).scalars().all())


async def _move_cursor(
    session: AsyncSession,
    chain_id: int,
    expected: tuple[int, str] | None,
    tip: tuple[int, str],
    final_block: int,
) -> None:
    if expected is None:
        if await session.get(IndexerCursor, chain_id) is not None:
            raise IndexerConflict(chain_id, None)
        session.add(
            IndexerCursor(chain_id=chain_id, block_number=tip[0], block_hash=tip[1], final_block=final_block)
        )
        return
    result = await session.execute(
        update(IndexerCursor)
        .where(
            IndexerCursor.chain_id == chain_id,
            IndexerCursor.block_number == expected[0],
            IndexerCursor.block_hash == expected[1],
        )
        .values(block_number=tip[0], block_hash=tip[1], final_block=final_block, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        raise IndexerConflict(chain_id, expected[0])


async def save_range(
    session: AsyncSession,
    chain_id: int,
    *,
    expected: tuple[int, str] | None,
    logs: Sequence[DecodedLog],
    headers: Sequence[BlockHeader],
    tip: BlockHeader,
    final_block: int,
    reorg_window: int,
) -> list[ChainEvent]:
    """Store one indexed range (call inside a transaction); returns the new event rows."""
    await _move_cursor(session, chain_id, expected, (tip.number, tip.hash), final_block)
    session.add_all(
        ChainBlock(chain_id=chain_id, number=h.number, hash=h.hash, parent_hash=h.parent_hash)
        for h in headers
    )
    rows = [
        ChainEvent(
            chain_id=chain_id,
            block_number=log.block_number,
            block_hash=log.block_hash,
            tx_hash=log.tx_hash,
            tx_index=log.tx_index,
            log_index=log.log_index,
            contract=log.contract,
            address=log.address,
            event=log.event,
            args=log.args,
            ref=log.ref,
            accounts=[
                ChainEventAccount(
                    chain_id=chain_id,
                    account=account,
                    roles=roles,
                    block_number=log.block_number,
                    log_index=log.log_index,
                )
                for account, roles in log.accounts.items()
            ],
        )
        for log in logs
    ]
    session.add_all(rows)
    await session.flush()
    await session.execute(
        delete(ChainBlock).where(
            ChainBlock.chain_id == chain_id, ChainBlock.number <= tip.number - reorg_window
        )
    )
    await undo.prune(session, chain_id, tip.number - reorg_window)
    return rows


async def rollback_to(
    session: AsyncSession, chain_id: int, *, expected: tuple[int, str], fork: ChainBlock
) -> list[ChainEvent]:
    """Forget everything above ``fork`` and revert what subscribers derived from it (call inside a
    transaction); returns the removed event rows."""
    removed = list(
        (
            await session.execute(
                select(ChainEvent)
                .where(ChainEvent.chain_id == chain_id, ChainEvent.block_number > fork.number)
                .order_by(ChainEvent.block_number, ChainEvent.log_index)
            )
        )
        .scalars()
        .all()
    )
    cursor = await session.get(IndexerCursor, chain_id)
    final_block = fork.number if cursor is None else min(cursor.final_block, fork.number)
    await _move_cursor(session, chain_id, expected, (fork.number, fork.hash), final_block)
    await undo.revert_above(session, chain_id, fork.number)
    await session.execute(
        delete(ChainEventAccount).where(
            ChainEventAccount.chain_id == chain_id, ChainEventAccount.block_number > fork.number
        )
    )
    await session.execute(
        delete(ChainEvent).where(ChainEvent.chain_id == chain_id, ChainEvent.block_number > fork.number)
    )
    await session.execute(
        delete(ChainBlock).where(ChainBlock.chain_id == chain_id, ChainBlock.number > fork.number)
    )
    return removed


async def reset_chain(session: AsyncSession, chain_id: int) -> None:
    """Forget every indexed row of ``chain_id`` (after :class:`ReorgTooDeep`, or a reset dev chain).

    The subscribers' undo journal goes too (its entries would otherwise revert effects of a later,
    unrelated rollback); what they derived stays, and a re-index re-applies events idempotently.
    """
    await undo.prune(session, chain_id, 2**63 - 1)
    for table in (ChainEventAccount, ChainEvent, ChainBlock):
        await session.execute(delete(table).where(table.chain_id == chain_id))
    await session.execute(delete(IndexerCursor).where(IndexerCursor.chain_id == chain_id))
