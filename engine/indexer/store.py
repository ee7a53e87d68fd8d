"""The indexer's writes: a range of events + block hashes + cursor in one transaction, and rollbacks.

A rollback also reverts what the subscribers derived from the removed events (their undo journal,
:mod:`engine.indexer.undo`), in the same transaction: the events and their effects go together.

Every write checks the cursor it started from (optimistic concurrency): a second indexer on the same
chain gets :class:`~engine.indexer.errors.IndexerConflict` instead of duplicating or losing events.

A range is stored with one driver-level bulk insert per table (:func:`_insert_many`), not an ORM
flush of one object per row: at catch-up the flush was where the time went (issue 15 §3). The new event
ids are read back with one ``SELECT`` over the range's blocks and key the account rows.
No ``ON CONFLICT DO NOTHING``: the cursor check above makes a duplicate impossible short of a bug, and
a unique violation (``chain_id, tx_hash, log_index``) still rolls the whole range back instead of
storing accounts without their event.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any, cast

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql import sqltypes

from engine.indexer import undo
from engine.indexer.decoding import DecodedLog, gc_paused
from engine.indexer.errors import IndexerConflict
from engine.indexer.fetch import BlockHeader
from engine.indexer.interfaces import IndexedEvent, indexed_event
from engine.indexer.models import ChainBlock, ChainEvent, ChainEventAccount, IndexerCursor, utcnow

_BLOCKS = cast(Table, ChainBlock.__table__)
_EVENTS = cast(Table, ChainEvent.__table__)
_ACCOUNTS = cast(Table, ChainEventAccount.__table__)
_CURSORS = cast(Table, IndexerCursor.__table__)
_EVENT_COLUMNS = (
    "chain_id",
    "block_number",
    "block_hash",
    "tx_hash",
    "tx_index",
    "log_index",
    "contract",
    "address",
    "event",
    "args",
    "ref",
    "indexed_at",
)
_COMPILED: dict[tuple[str, str, tuple[str, ...]], tuple[str, list[str]]] = {}


def _json_dumps_default() -> Callable[[Any], str] | None:
    """``json.dumps`` with its default settings, minus its per-call Python layers (keyword checks,
    ``JSONEncoder.encode``/``iterencode`` building a C encoder per call): one C encoder, built once. Same
    text as ``json.dumps``; no circular-reference check (decoded event arguments are strings, bools and
    lists of them). ``None`` without the C accelerator."""
    if c_make_encoder is None:  # pragma: no cover - CPython always has it
        return None
    plain = json.JSONEncoder()
    encode = c_make_encoder(
        None, plain.default, encode_basestring_ascii, None, ": ", ", ", False, False, True
    )

    def dumps(value: Any) -> str:
        return "".join(encode(value, 0))

    return dumps


_JSON_DUMPS = _json_dumps_default()
_UNSET = object()


def _processor(dialect: Any, column_type: Any) -> Callable[[Any], Any] | None:
    """The column's bind processor for ``dialect``; for a JSON column of a dialect that serializes with
    ``json.dumps`` (no ``json_serializer`` configured), the same processor around :data:`_JSON_DUMPS`."""
    proc = column_type._cached_bind_processor(dialect)
    if proc is None or _JSON_DUMPS is None or dialect._json_serializer is not None:
        return cast(Callable[[Any], Any] | None, proc)
    impl = column_type.dialect_impl(dialect)
    if not isinstance(impl, sqltypes.JSON):
        return cast(Callable[[Any], Any], proc)
    make: Any = impl._make_bind_processor  # SQLAlchemy's own JSON processor, given our serializer
    return cast(Callable[[Any], Any], make(impl._str_impl.bind_processor(dialect), _JSON_DUMPS))


def _bound(
    dialect: Any, table: Table, columns: tuple[str, ...], rows: Sequence[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """The rows with every value through its column's bind processor (JSON, datetimes), as SQLAlchemy
    would bind it, and nothing else; a value shared by consecutive rows (the range's timestamp) is bound
    once. Column by column (the rows transposed), not row by row."""
    processors = [
        (i, proc)
        for i, name in enumerate(columns)
        if (proc := _processor(dialect, table.c[name].type)) is not None
    ]
    if not processors or not rows:
        return [tuple(row) for row in rows]
    values: list[Sequence[Any]] = list(zip(*rows, strict=True))
    for i, proc in processors:
        bound: list[Any] = []
        last: Any = _UNSET
        done: Any = None
        for value in values[i]:
            if value is not last:
                last, done = value, proc(value)
            bound.append(done)
        values[i] = bound
    return list(zip(*values, strict=True))


async def _insert_many(
    session: AsyncSession, table: Table, columns: tuple[str, ...], rows: Sequence[tuple[Any, ...]]
) -> None:
    """``INSERT INTO table (columns) VALUES (...)`` for every row in ONE driver call: ``executemany`` of a
    statement compiled once per dialect, or on PostgreSQL through asyncpg ``COPY ... FROM STDIN``.

    Values go through the columns' bind processors (:func:`_bound`) and nothing else: SQLAlchemy's per-row
    parameter handling, most of the cost of an ORM flush or of a Core ``insert`` with a list of dicts, is
    skipped. Rows must be complete (no column defaults are applied) and no keys come back. Call it after
    another statement of the same transaction (:func:`save_range` moves the cursor first): the asyncpg
    driver begins its transaction on a connection's first statement, and ``COPY`` goes to the driver.
    """
    if not rows:
        return
    conn = await session.connection()
    dialect = conn.dialect
    with gc_paused():
        bound = _bound(dialect, table, columns, rows)
    if dialect.name == "postgresql" and dialect.driver == "asyncpg":
        await _copy_records(conn, table, columns, bound)
        return
    key = (dialect.name, table.name, columns)
    compiled = _COMPILED.get(key)
    if compiled is None:
        stmt = insert(table).inline().compile(dialect=dialect, column_keys=list(columns))
        names = list(stmt.positiontup or columns) if stmt.positional else []
        compiled = _COMPILED[key] = (str(stmt), names)
    sql, names = compiled
    if not names:  # named parameters
        params: list[Any] = [dict(zip(columns, row, strict=True)) for row in bound]
    elif names == list(columns):
        params = bound
    else:  # the statement lists the columns in the table's order
        order = [columns.index(name) for name in names]
        params = [tuple(row[i] for i in order) for row in bound]
    await conn.exec_driver_sql(sql, params)


async def stored_blocks(session: AsyncSession, chain_id: int, up_to: int) -> list[ChainBlock]:
    """Stored blocks at or below ``up_to``, newest first."""
    stmt = (
        select(ChainBlock)
        .where(ChainBlock.chain_id == chain_id, ChainBlock.number <= up_to)
        .order_by(ChainBlock.number.desc())
    )
    return list((await session.execute(stmt)).scalars().all())


async def _copy_records(
    conn: AsyncConnection, table: Table, columns: tuple[str, ...], records: list[tuple[Any, ...]]
) -> None:
    """PostgreSQL through asyncpg: ``COPY ... FROM STDIN`` (binary) inside the open transaction, faster
    than ``executemany`` (one statement, no per-row bind/execute). A failure is re-raised as SQLAlchemy's
    (``IntegrityError`` for a constraint), so callers see one error family on every backend."""
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    try:
        await driver.copy_records_to_table(
            table.name, records=records, columns=list(columns), schema_name=table.schema
        )
    except Exception as exc:  # asyncpg's own errors: as SQLAlchemy's, like every other statement's
        import asyncpg

        if not isinstance(exc, asyncpg.PostgresError):
            raise
        error = IntegrityError if isinstance(exc, asyncpg.IntegrityConstraintViolationError) else DBAPIError
        raise error(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN", None, exc) from exc


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
        await session.execute(
            insert(_CURSORS).values(
                chain_id=chain_id,
                block_number=tip[0],
                block_hash=tip[1],
                final_block=final_block,
                updated_at=utcnow(),
            )
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
) -> list[IndexedEvent]:
    """Store one indexed range (call inside a transaction); returns its events, in chain order, as
    subscribers get them (``final`` from ``final_block``)."""
    await _move_cursor(session, chain_id, expected, (tip.number, tip.hash), final_block)
    if headers:
        await _insert_many(
            session,
            _BLOCKS,
            ("chain_id", "number", "hash", "parent_hash"),
            [(chain_id, h.number, h.hash, h.parent_hash) for h in headers],
        )
    if logs:
        now = utcnow()
        with gc_paused():  # tens of thousands of tuples, no cyclic garbage (engine.indexer.decoding)
            rows = [
                (
                    chain_id,
                    log.block_number,
                    log.block_hash,
                    log.tx_hash,
                    log.tx_index,
                    log.log_index,
                    log.contract,
                    log.address,
                    log.event,
                    log.args,
                    log.ref,
                    now,
                )
                for log in logs
            ]
        await _insert_many(session, _EVENTS, _EVENT_COLUMNS, rows)
        # the new rows' ids, keyed by (tx_hash, log_index) (unique): nothing else is stored above the cursor
        found = await session.execute(
            select(_EVENTS.c.tx_hash, _EVENTS.c.log_index, _EVENTS.c.id).where(
                _EVENTS.c.chain_id == chain_id,
                _EVENTS.c.block_number >= logs[0].block_number,
                _EVENTS.c.block_number <= logs[-1].block_number,
            )
        )
        with gc_paused():
            ids = {(tx_hash, log_index): event_id for tx_hash, log_index, event_id in found}
            accounts = [
                (ids[(log.tx_hash, log.log_index)], chain_id, account, roles, log.block_number, log.log_index)
                for log in logs
                for account, roles in log.accounts.items()
            ]
        if accounts:
            await _insert_many(
                session,
                _ACCOUNTS,
                ("event_id", "chain_id", "account", "roles", "block_number", "log_index"),
                accounts,
            )
    await session.execute(
        delete(ChainBlock).where(
            ChainBlock.chain_id == chain_id, ChainBlock.number <= tip.number - reorg_window
        )
    )
    await undo.prune(session, chain_id, tip.number - reorg_window)
    with gc_paused():  # the decoded logs are this range's own: their args dicts are handed on, not copied
        return [
            indexed_event(
                chain_id,
                log.block_number,
                log.block_hash,
                log.tx_hash,
                log.log_index,
                log.contract,
                log.address,
                log.event,
                log.args,
                log.ref,
                log.block_number <= final_block,
            )
            for log in logs
        ]


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
