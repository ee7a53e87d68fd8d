"""engine.wallets.history_events: credit movements become history rows per address they concern (kinds as
engine.wallets.commands.classify says), a replayed range writes nothing twice, and a reorg's rollback
(engine.indexer.undo.revert_above) deletes the rows of the orphaned blocks."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from engine import db
from engine.indexer import undo
from engine.indexer.interfaces import IndexedEvent
from engine.indexer.models import ChainEvent
from engine.wallets.commands import Counterparties
from engine.wallets.history import page, wallet_owner
from engine.wallets.history_events import backfill, movements, write_movements
from engine.wallets.models import WalletHistoryEntry

CHAIN = 4343
ZERO = "0x" + "0" * 40
ALICE = "0x" + "A1" * 20
BOB = "0x" + "B2" * 20
ESCROW = "0x" + "E5" * 20
PARTIES = Counterparties(escrow=ESCROW.lower(), signer=None)


def ev(
    block: int, log: int, event: str, tx: int | None = None, contract: str = "CreditToken", **args: str
) -> IndexedEvent:
    return IndexedEvent(
        chain_id=CHAIN,
        block_number=block,
        block_hash="0x" + f"{block:064x}",
        tx_hash="0x" + f"{tx if tx is not None else block:064x}",
        log_index=log,
        contract=contract,
        address="0x" + "11" * 20,
        event=event,
        args=args,
        ref=None,
        final=False,
    )


EVENTS = [
    ev(10, 0, "Transfer", **{"from": ZERO, "to": ALICE, "value": "500"}),  # the mint's own Transfer: folded
    ev(10, 1, "CreditMinted", to=ALICE, amount="500"),
    ev(11, 0, "Transfer", **{"from": ALICE, "to": ESCROW, "value": "200"}),  # a lease deposit
    ev(12, 0, "Transfer", **{"from": ALICE, "to": BOB, "value": "7"}),  # both sides get an item
    ev(12, 1, "Approval", owner=ALICE, spender=ESCROW, value="9"),  # moves nothing
]


async def _kinds(s: AsyncSession, address: str) -> list[tuple[str, str, str, int]]:
    items, cursor = await page(s, [wallet_owner(address)], before=None, limit=50)
    assert cursor is None
    return [(i.ref, i.kind, i.direction, int(i.credit_units or 0)) for i in items]


async def test_rows_per_address_idempotent_and_reverted_by_a_reorg(db_session: AsyncSession) -> None:
    moves = movements(EVENTS, PARTIES)
    times = {10: 1_000, 11: 1_100, 12: 1_200}
    assert await write_movements(db_session, moves, times) == 4
    assert await write_movements(db_session, moves, times) == 0  # a replayed range
    assert await _kinds(db_session, ALICE) == [
        ("chain:12:0", "transfer", "out", 7),
        ("chain:11:0", "lease_deposit", "out", 200),
        ("chain:10:1", "mint", "in", 500),
    ]
    assert await _kinds(db_session, BOB) == [("chain:12:0", "transfer", "in", 7)]
    assert await _kinds(db_session, ESCROW) == []  # a counterparty, not a wallet
    await db_session.flush()
    await undo.revert_above(db_session, CHAIN, 11)  # block 12 orphaned
    await db_session.flush()
    assert [k[0] for k in await _kinds(db_session, ALICE)] == ["chain:11:0", "chain:10:1"]
    assert await _kinds(db_session, BOB) == []
    count = await db_session.scalar(select(func.count()).select_from(WalletHistoryEntry))
    assert count == 2


async def test_backfill_writes_the_items_indexed_before_the_table(database_url: str) -> None:
    engine = db.make_engine(database_url)
    maker = db.make_sessionmaker(engine)
    try:
        async with maker() as s, s.begin():
            for e in EVENTS:
                s.add(
                    ChainEvent(
                        chain_id=CHAIN,
                        block_number=e.block_number,
                        block_hash=e.block_hash,
                        tx_hash=e.tx_hash,
                        tx_index=0,
                        log_index=e.log_index,
                        contract=e.contract,
                        address=e.address,
                        event=e.event,
                        args=e.args,
                        ref=None,
                    )
                )
        assert await backfill(maker, None, PARTIES, CHAIN, blocks_per_step=1) == 4
        assert await backfill(maker, None, PARTIES, CHAIN) == 0  # done: the newest movement has its row
        async with maker() as s:
            assert [k[0] for k in await _kinds(s, ALICE)] == ["chain:12:0", "chain:11:0", "chain:10:1"]
    finally:
        await engine.dispose()
