"""Storing ranges, rolling back, and the query helpers, on SQLite and PostgreSQL (rows built by hand)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from engine.indexer import store
from engine.indexer.decoding import DecodedLog
from engine.indexer.errors import IndexerConflict, InvalidCursor
from engine.indexer.fetch import BlockHeader
from engine.indexer.interfaces import IndexedEvent, indexed_event
from engine.indexer.models import ChainBlock, ChainEventAccount
from engine.indexer.services import events_between, events_by_ref, events_for_account, get_cursor

CHAIN = 777
ALICE = "0x" + "aa" * 20
BOB = "0x" + "bb" * 20


def h(n: int, fork: str = "a") -> BlockHeader:
    tag = {"a": "0a", "b": "0b"}[fork]
    return BlockHeader(n, "0x" + tag * 28 + f"{n:08x}", "0x" + tag * 28 + f"{n - 1:08x}")


def transfer(block: int, log_index: int, value: int, ref: str | None = None) -> DecodedLog:
    return DecodedLog(
        block_number=block,
        block_hash=h(block).hash,
        tx_hash="0x" + f"{block:032x}{log_index:032x}",
        tx_index=0,
        log_index=log_index,
        contract="CreditToken",
        address="0x" + "11" * 20,
        event="Transfer",
        args={"from": ALICE, "to": BOB, "value": str(value)},
        ref=ref,
        accounts={ALICE: "from", BOB: "to"},
    )


async def save(session, start: int, end: int, logs, expected, *, final: int, window: int = 128):
    headers = [h(n) for n in range(start, end + 1)]
    rows = await store.save_range(
        session,
        CHAIN,
        expected=expected,
        logs=logs,
        headers=headers,
        tip=headers[-1],
        final_block=final,
        reorg_window=window,
    )
    await session.flush()
    return rows


async def test_pages_run_newest_first_without_gaps(db_session) -> None:
    logs = [transfer(b, i, 10 * b + i) for b in (1, 2, 3) for i in (0, 1)]
    await save(db_session, 1, 3, logs, None, final=2)
    seen = []
    cursor = None
    while True:
        page = await events_for_account(
            db_session, CHAIN, BOB.upper().replace("0X", "0x"), cursor=cursor, limit=4
        )
        seen += page.events
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert [e.position for e in seen] == [(3, 1), (3, 0), (2, 1), (2, 0), (1, 1), (1, 0)]
    assert [e.final for e in seen] == [False, False, True, True, True, True]
    assert seen[0].int_arg("value") == 31
    assert (await events_for_account(db_session, CHAIN, "0x" + "cc" * 20)).events == []
    with pytest.raises(InvalidCursor):
        await events_for_account(db_session, CHAIN, BOB, cursor="nope")
    with pytest.raises(ValueError):
        await events_for_account(db_session, CHAIN, BOB, limit=0)


async def test_refs_and_ranges(db_session) -> None:
    ref = "0x" + "42" * 32
    await save(db_session, 5, 6, [transfer(5, 0, 1, ref), transfer(6, 0, 2)], None, final=6)
    (event,) = await events_by_ref(db_session, CHAIN, bytes.fromhex("42" * 32))
    assert event.ref == ref and event.final and event.int_arg("value") == 1
    assert await events_by_ref(db_session, CHAIN, ref, event="CreditMinted") == []
    assert [e.block_number for e in await events_between(db_session, CHAIN, 5, 6)] == [6]
    with pytest.raises(ValueError):
        await events_by_ref(db_session, CHAIN, b"short")


async def test_rollback_removes_events_accounts_and_blocks_above_the_fork(db_session) -> None:
    await save(db_session, 1, 4, [transfer(2, 0, 1), transfer(4, 0, 2)], None, final=4)
    fork = await db_session.get(ChainBlock, (CHAIN, 2))
    removed = await store.rollback_to(db_session, CHAIN, expected=(4, h(4).hash), fork=fork)
    await db_session.flush()
    assert [r.block_number for r in removed] == [4]
    cursor = await get_cursor(db_session, CHAIN)
    await db_session.refresh(cursor)
    assert (cursor.block_number, cursor.block_hash, cursor.final_block) == (2, h(2).hash, 2)
    assert [e.block_number for e in (await events_for_account(db_session, CHAIN, ALICE)).events] == [2]
    count = select(func.count()).select_from(ChainEventAccount).where(ChainEventAccount.chain_id == CHAIN)
    assert (await db_session.execute(count)).scalar_one() == 2  # ALICE and BOB of the block-2 event
    blocks = (
        await db_session.execute(select(ChainBlock.number).where(ChainBlock.chain_id == CHAIN))
    ).scalars()
    assert sorted(blocks) == [1, 2]


async def test_stale_cursor_is_a_conflict_and_window_prunes(db_session) -> None:
    await save(db_session, 1, 5, [], None, final=5, window=2)
    blocks = (
        await db_session.execute(select(ChainBlock.number).where(ChainBlock.chain_id == CHAIN))
    ).scalars()
    assert sorted(blocks) == [4, 5]
    with pytest.raises(IndexerConflict) as info:
        await save(db_session, 6, 6, [], (3, h(3).hash), final=6)
    assert info.value.expected_block == 3


async def test_a_duplicate_event_fails_the_whole_range_with_sqlalchemys_error(db_session) -> None:
    """The bulk insert (executemany / COPY on PostgreSQL) raises SQLAlchemy's IntegrityError on a unique
    violation, like the ORM flush did, and the savepoint leaves nothing of the range behind."""
    with pytest.raises(IntegrityError):
        async with db_session.begin_nested():
            await save(db_session, 1, 2, [transfer(1, 0, 1), transfer(1, 0, 1)], None, final=2)
    assert await get_cursor(db_session, CHAIN) is None
    assert (await events_for_account(db_session, CHAIN, ALICE)).events == []


def test_indexed_event_builds_the_same_event_as_the_dataclass() -> None:
    fields = dict(
        chain_id=CHAIN,
        block_number=5,
        block_hash=h(5).hash,
        tx_hash="0x" + "12" * 32,
        log_index=3,
        contract="CreditToken",
        address="0x" + "11" * 20,
        event="Transfer",
        args={"from": ALICE, "to": BOB, "value": "7"},
        ref=None,
        final=True,
    )
    fast, plain = indexed_event(**fields), IndexedEvent(**fields)  # type: ignore[arg-type]
    assert type(fast) is IndexedEvent and fast == plain and hash(fast) == hash(plain)
    assert repr(fast) == repr(plain) and vars(fast) == vars(plain)
    # the shortcut fills __dict__: it would be wrong for a class with slots or a __post_init__
    assert not hasattr(IndexedEvent, "__slots__") and not hasattr(IndexedEvent, "__post_init__")
    with pytest.raises(AttributeError):
        fast.final = False  # type: ignore[misc]


@pytest.mark.parametrize(
    "args",
    [
        {"from": ALICE, "to": BOB, "value": "7"},
        {"ok": True, "list": ["0x01", ["a", "ü"]], "none": None, "quote": 'a"b\\c'},
        {},
    ],
)
def test_the_bulk_json_serializer_writes_what_json_dumps_writes(args: dict[str, object]) -> None:
    assert store._JSON_DUMPS is not None and store._JSON_DUMPS(args) == json.dumps(args)
