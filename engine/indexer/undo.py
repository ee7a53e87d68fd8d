"""Reorg-safe consumers: an undo journal of what the subscribers changed per event, reverted by the rollback.

The problem. The indexer stores events up to the head and rolls back the blocks a reorg orphaned; its
subscribers (the registry's :class:`engine.providers.subscriber.MarketplaceSubscriber`, the escrow's
:class:`engine.deployments.events.EscrowSubscriber`) turn events into rows of *other* tables: provider
status and collateral, node links, payees and maintenance windows (with tenant notifications), lease ids,
rates and refunds, deployment statuses with their transitions, rejected/orphaned lease rows and the close
requests they queue. Before this module, a rollback deleted the events but left all of that in place, and
the handlers' idempotency checks then made it worse: a re-mined or replacing ``LeaseOpened`` found its
lease row still holding the orphaned lease id and was never matched, provider events at positions below a
stale row's position were skipped as "already applied".

Choice: **(b) an undo journal, reverted in the rollback's own transaction.** Considered and rejected:

(a) *apply events only once they are final.* The indexer calls an event final once it has
    ``confirmations`` blocks counting its own (``final_block = head - confirmations + 1``), so a reorg of
    exactly ``confirmations`` blocks still replaces a final block: (a) would need one block more than the
    confirmation count to be safe "up to the confirmation count". Worse, it adds ``confirmations`` blocks
    of latency to every user-visible step (a deployment starts, a node appears, a lease closes), and on the
    dev chain (anvil automines: a block only when a transaction comes, dev default ``confirmations = 1``)
    an event would wait for some unrelated later transaction before it takes effect at all. The engine
    reports unconfirmed facts already (wallet history ``status: unconfirmed``); it can undo them.
(b') *derived rows keyed by (block_hash, log_index), re-derived after a rollback.* Clean for pure
    projections, but our consumers mostly *update* rows the API created before the event (a lease awaiting
    funds, a node pending its ``addNode``, a deployment in ``funding``), overwrite values the engine chose
    (the quoted list rate becomes the discounted on-chain rate) and append transitions and notifications;
    re-deriving needs every such value's pre-event state, i.e. a journal anyway, plus a column per table.

How it works:

* A subscriber tags its session with the event it is about to apply (:func:`track`, once per event, and
  ``track(session, None)`` before work that is not derived from an event, such as the relay's advance).
  Flush hooks on that session (``before_flush`` for updates and deletes, while the database still holds
  the old values; ``after_flush`` for inserts, once their keys are known) record, for every row the flush
  inserted, updated or deleted while a tag was set, one ``chain_undo`` row: the table, the primary key,
  and for updates the changed columns' old and new values (for deletes the whole row), written on the
  flush's own connection, so in the same transaction as the change itself.
  Statements a handler executes itself (``insert(...).on_conflict_do_nothing().returning(...)`` as
  :func:`engine.notifications.services.notify` does, bulk ``update``/``delete``) are journaled by a
  ``do_orm_execute`` hook: inserted keys from RETURNING (added to an ORM-enabled insert that has none)
  or the cursor, rows an update or delete touches read before and after it. Nothing in the handlers
  changes: whatever a handler (or one added later: lease stops, pauses, alliances) writes is journaled.
  Work done after the last event but before ``track(session, None)`` (a batch-level step) is
  attributed to the batch's last event.
* :func:`revert_above` runs inside the indexer's rollback transaction
  (:func:`engine.indexer.store.rollback_to`): the entries of blocks above the fork, newest first, are
  undone (inserted rows deleted, updated columns set back, deleted rows re-inserted) and dropped; the
  events go in the same commit. The database is then what it was after the last surviving event, and the
  new fork's events are applied by the subscribers as on a first pass: the state equals a fresh re-index
  of the same chain (``tests/chain/test_reorg_consumers.py`` checks this at every reorg depth up to the
  confirmation count). Depth is bounded by ``reorg_window`` (:class:`ReorgTooDeep` beyond it), like the
  stored block hashes; journal entries older than the window are pruned with them.
* An update is undone column by column **only where the column still holds the value the event wrote**.
  A column changed since by something else (a user asked to close the deployment after its lease opened)
  keeps the newer value and a warning is logged: the later decision was made by a person or a job and is
  not the chain's to take back.

Not journaled (listed so nobody relies on it): work a subscriber does after ``track(session, None)`` (the
escrow relay's advance, failover run after the commit: commands reacting to the state, not the state the
events define), raw SQL text, the wake-up hub (:mod:`engine.deployments.reorg` wakes the nodes and
deployments a rollback touched), and effects outside the database: a close request the relay has already
signed and handed to the outbox stays there (it reverts on chain if its lease no longer exists there), an
e-mail or webhook already delivered is not recalled, an SSE client that was sent a transition the
rollback removed is not sent a retraction (it sees the status again on its next read).
"""

from __future__ import annotations

import enum
import logging
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, and_, delete, insert, inspect, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from engine.db import Base
from engine.indexer.interfaces import IndexedEvent
from engine.indexer.models import ChainUndo

log = logging.getLogger(__name__)

_KEY = "cloudmarket.undo"
_UNDO = cast(Table, ChainUndo.__table__)
INSERT, UPDATE, DELETE = "insert", "update", "delete"


_Entry = tuple[str, Table, dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]
"""One journal entry before it is written: (op, table, key, before, after)."""


class _Tag:
    """The event a session's changes are currently attributed to."""

    __slots__ = ("event", "pending")

    def __init__(self) -> None:
        self.event: IndexedEvent | None = None
        self.pending: list[_Entry] = []  # the flush under way's entries, newest last


# ---- values: tagged JSON ------------------------------------------------------------------------------


def encode(value: Any) -> list[Any]:
    """A column value as tagged JSON (datetimes, bytes, decimals and enums survive the round trip)."""
    if isinstance(value, datetime):
        return ["dt", value.isoformat()]
    if isinstance(value, date):
        return ["d", value.isoformat()]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return ["b", bytes(value).hex()]
    if isinstance(value, Decimal):
        return ["dec", str(value)]
    if isinstance(value, enum.Enum):
        return ["j", value.value]
    return ["j", value]


def decode(tagged: list[Any]) -> Any:
    kind, value = tagged
    if kind == "dt":
        return datetime.fromisoformat(value)
    if kind == "d":
        return date.fromisoformat(value)
    if kind == "b":
        return bytes.fromhex(value)
    if kind == "dec":
        return Decimal(value)
    return value


def _comparable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)  # SQLite hands back naive datetimes
    return value


def same_value(a: Any, b: Any) -> bool:
    return bool(_comparable(a) == _comparable(b))


# ---- recording ----------------------------------------------------------------------------------------


async def track(session: AsyncSession, event: IndexedEvent | None) -> None:
    """Journal what ``session`` changes from now on as done by ``event`` (``None``: stop journaling).

    Flushes first, so that changes made so far keep their own attribution. Call it before applying each
    event, and with ``None`` before work in the same session that no event caused.
    """
    tag = session.info.get(_KEY)
    if tag is None:
        tag = session.info[_KEY] = _Tag()
        sa_event.listen(session.sync_session, "before_flush", _before_flush)
        sa_event.listen(session.sync_session, "after_flush", _after_flush)
        sa_event.listen(session.sync_session, "do_orm_execute", _on_execute)
    await session.flush()
    assert isinstance(tag, _Tag)
    tag.event = event


def _mapper_table(obj: object) -> tuple[Any, Table] | None:
    state = inspect(obj)
    table = state.mapper.local_table
    if not isinstance(table, Table) or table is _UNDO:
        return None
    return state, table


def _key(state: Any) -> dict[str, Any]:
    mapper = state.mapper
    values = state.identity or mapper.primary_key_from_instance(state.obj())
    return {col.key: encode(v) for col, v in zip(mapper.primary_key, values, strict=True)}


def _db_row(session: Session, table: Table, key: dict[str, Any]) -> Any:
    """The row as the database has it (before this flush writes it)."""
    return session.connection().execute(select(table).where(_where(table, key))).mappings().first()


def _changes(session: Session, state: Any, table: Table, key: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    stored: Any = None
    for attr in state.mapper.column_attrs:
        column = attr.columns[0]
        if column.table is not table:
            continue
        history = state.attrs[attr.key].history
        if not history.added:
            continue
        if history.deleted:
            old = history.deleted[0]
        else:  # the old value was never loaded (e.g. a column left unset at insert): the database has it
            if stored is None:
                stored = _db_row(session, table, key)
            if stored is None:
                continue
            old = stored[column]
        new = history.added[0]
        if same_value(old, new):
            continue
        before[column.key], after[column.key] = encode(old), encode(new)
    return before, after


def _before_flush(session: Session, _flush_context: UOWTransaction, _instances: object) -> None:
    """Updates and deletes, while the database still holds the old values."""
    tag = session.info.get(_KEY)
    if not isinstance(tag, _Tag):
        return
    tag.pending = []
    if tag.event is None:
        return
    for obj in session.dirty:
        found = _mapper_table(obj)
        if found is not None:
            state, table = found
            key = _key(state)
            before, after = _changes(session, state, table, key)
            if before:
                tag.pending.append((UPDATE, table, key, before, after))
    for obj in session.deleted:
        found = _mapper_table(obj)
        if found is not None:
            state, table = found
            key = _key(state)
            row = _db_row(session, table, key)
            if row is not None:
                image = {c.key: encode(row[c]) for c in table.columns}
                tag.pending.append((DELETE, table, key, image, None))


def _after_flush(session: Session, _flush_context: UOWTransaction) -> None:
    """Inserts (their keys are known now), then the journal rows of the whole flush."""
    tag = session.info.get(_KEY)
    if not isinstance(tag, _Tag) or tag.event is None:
        return
    ev = tag.event
    pending = tag.pending
    tag.pending = []
    for obj in session.new:
        found = _mapper_table(obj)
        if found is not None:
            pending.append((INSERT, found[1], _key(found[0]), None, None))
    _write(session, ev, pending)


def _write(session: Session, ev: IndexedEvent, pending: list[_Entry]) -> None:
    """Journal rows on the session's own connection and transaction: they commit (or not) with the change."""
    if not pending:
        return
    entries = [
        {
            "chain_id": ev.chain_id,
            "block_number": ev.block_number,
            "block_hash": ev.block_hash,
            "log_index": ev.log_index,
            "op": op,
            "table_name": table.name,
            "key": key,
            "before": before,
            "after": after,
        }
        for op, table, key, before, after in pending
    ]
    session.connection().execute(insert(_UNDO), entries)


def _row_key(table: Table, row: Any) -> dict[str, Any]:
    return {c.key: encode(row[c.key]) for c in table.primary_key.columns}


def _on_execute(state: ORMExecuteState) -> Any:
    """Statements a handler executes itself (``session.execute(insert(...)...)``, bulk updates and
    deletes) while a tag is set: journaled like flushed changes. Returns the statement's result (or
    ``None``: not ours to look at, the statement runs as usual)."""
    tag = state.session.info.get(_KEY)
    if not isinstance(tag, _Tag) or tag.event is None:
        return None
    if not (state.is_insert or state.is_update or state.is_delete):
        return None
    table = getattr(state.statement, "table", None)
    if not isinstance(table, Table) or table.name == _UNDO.name:
        return None
    session, ev = state.session, tag.event
    if state.is_insert:
        statement: Any = state.statement
        pk = list(table.primary_key.columns)
        returning = bool(statement._returning)  # the public exported_columns misses ORM-enabled ones
        if not returning and state.is_orm_statement:
            # an ORM-enabled INSERT without RETURNING: its result has no rows and (on PostgreSQL) no
            # inserted keys either; ask for the keys (the caller gets them as rows, harmless)
            statement, returning = statement.returning(*pk), True
        result = state.invoke_statement(statement=statement)
        if returning:  # INSERT .. RETURNING: read the keys, hand the caller a fresh copy of the rows
            frozen = result.freeze()
            rows = frozen().mappings().all()
            if rows and all(c.key in rows[0] for c in table.primary_key.columns):
                _write(session, ev, [(INSERT, table, _row_key(table, r), None, None) for r in rows])
            elif rows:
                log.warning("undo journal: insert into %s returns no key: not journaled", table.name)
            return frozen()
        keys = list(getattr(result, "inserted_primary_key_rows", None) or [])
        inserted: list[_Entry] = [
            (INSERT, table, {c.key: encode(v) for c, v in zip(pk, row, strict=True)}, None, None)
            for row in keys
            if row is not None and None not in tuple(row)
        ]
        if len(inserted) != len(keys) or not keys:
            log.warning("undo journal: insert into %s without known keys: not all journaled", table.name)
        _write(session, ev, inserted)
        return result
    where = getattr(state.statement, "whereclause", None)
    query = select(table) if where is None else select(table).where(where)
    before = session.connection().execute(query).mappings().all()
    result = state.invoke_statement()
    entries: list[_Entry] = []
    for row in before:
        key = _row_key(table, row)
        if state.is_delete:
            entries.append((DELETE, table, key, {c.key: encode(row[c]) for c in table.columns}, None))
            continue
        now = _db_row(session, table, key)
        if now is None:
            continue
        changed = [c for c in table.columns if not same_value(row[c], now[c])]
        if changed:
            old = {c.key: encode(row[c]) for c in changed}
            entries.append((UPDATE, table, key, old, {c.key: encode(now[c]) for c in changed}))
    _write(session, ev, entries)
    return result


# ---- reverting ----------------------------------------------------------------------------------------


def _table(name: str) -> Table:
    table = Base.metadata.tables.get(name)
    if table is None:
        from engine.schema import import_all_models

        import_all_models()
        table = Base.metadata.tables[name]
    return table


def _where(table: Table, key: dict[str, Any]) -> Any:
    return and_(*(table.c[name] == decode(value) for name, value in key.items()))


async def _revert_one(session: AsyncSession, entry: ChainUndo) -> None:
    table = _table(entry.table_name)
    where = _where(table, entry.key)
    if entry.op == INSERT:
        await session.execute(delete(table).where(where))
    elif entry.op == UPDATE:
        current = (await session.execute(select(table).where(where))).mappings().first()
        if current is None:
            return  # deleted since: nothing to set back
        values: dict[str, Any] = {}
        for name, after in (entry.after or {}).items():
            if same_value(current[table.c[name]], decode(after)):
                values[name] = decode((entry.before or {})[name])
            else:
                log.warning(
                    "reorg: %s %s.%s changed since block %s; keeping the newer value",
                    entry.table_name,
                    {k: decode(v) for k, v in entry.key.items()},
                    name,
                    entry.block_number,
                )
        if values:
            await session.execute(update(table).where(where).values(values))
    elif entry.op == DELETE:
        if (await session.execute(select(table).where(where))).first() is None:
            await session.execute(
                insert(table).values({k: decode(v) for k, v in (entry.before or {}).items()})
            )


async def revert_above(session: AsyncSession, chain_id: int, fork_block: int) -> int:
    """Undo what subscribers did for events above ``fork_block`` (call inside the rollback's transaction),
    newest first; returns how many journal entries were reverted."""
    entries = (
        (
            await session.execute(
                select(ChainUndo)
                .where(ChainUndo.chain_id == chain_id, ChainUndo.block_number > fork_block)
                .order_by(ChainUndo.id.desc())
            )
        )
        .scalars()
        .all()
    )
    for entry in entries:
        try:
            async with session.begin_nested():
                await _revert_one(session, entry)
        except IntegrityError:  # e.g. a row since referenced by another: keep it, say so
            log.exception("reorg: could not revert %s on %s %s", entry.op, entry.table_name, entry.key)
    await session.execute(
        delete(ChainUndo).where(ChainUndo.chain_id == chain_id, ChainUndo.block_number > fork_block)
    )
    if entries:
        log.warning(
            "reorg: chain %s, %s subscriber changes reverted above block %s",
            chain_id,
            len(entries),
            fork_block,
        )
    return len(entries)


async def prune(session: AsyncSession, chain_id: int, up_to_block: int) -> None:
    """Forget the entries at or below ``up_to_block`` (beyond the reorg window: never reverted)."""
    await session.execute(
        delete(ChainUndo).where(ChainUndo.chain_id == chain_id, ChainUndo.block_number <= up_to_block)
    )
