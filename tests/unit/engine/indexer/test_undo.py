"""The subscribers' undo journal (engine.indexer.undo) on SQLite and PostgreSQL: what a tagged session
inserts, updates and deletes is reverted above a fork, newest first; a column changed since by someone
else keeps the newer value; untagged work is never journaled."""

from __future__ import annotations

import ast
import importlib
import inspect
import logging
from pathlib import Path

import pytest
from sqlalchemy import delete, func, insert, select, update

from engine.identity.models import User
from engine.indexer import undo
from engine.indexer.interfaces import IndexedEvent
from engine.indexer.models import ChainUndo
from engine.nodes.models import NODE_ACTIVE, NODE_PENDING_CHAIN, NODE_REMOVED, Node
from engine.notifications.models import Notification
from engine.notifications.services import notify

CHAIN = 4242
BACKENDS = pytest.mark.parametrize("migrated_engine", ["sqlite", "postgresql"], indirect=True)
PAYEE = "0x" + "Ab" * 20


def ev(block: int, log_index: int = 0) -> IndexedEvent:
    return IndexedEvent(
        chain_id=CHAIN,
        block_number=block,
        block_hash="0x" + f"{block:064x}",
        tx_hash="0x" + f"{block:032x}{log_index:032x}",
        log_index=log_index,
        contract="ProviderRegistry",
        address="0x" + "11" * 20,
        event="NodeAdded",
        args={},
        ref=None,
        final=False,
    )


async def _node(session) -> Node:
    user = User(sub="dev|undo-provider")
    session.add(user)
    await session.flush()
    node = Node(provider_user_id=user.id, name="n", status=NODE_PENDING_CHAIN)
    session.add(node)
    await session.flush()
    return node


async def _journal(session) -> int:
    return int((await session.execute(select(func.count()).select_from(ChainUndo))).scalar_one())


async def _fresh(session, node: Node) -> tuple[str, int | None, str | None, list[str]]:
    session.expunge_all()
    row = await session.get(Node, node.id)
    assert row is not None
    keys = (await session.scalars(select(Notification.dedupe_key).order_by(Notification.id))).all()
    return row.status, row.chain_node_id, row.payee, list(keys)


@BACKENDS
async def test_changes_above_the_fork_are_reverted_newest_first(db_session) -> None:
    s = db_session
    node = await _node(s)
    await undo.track(s, ev(10))  # links the node, tells its provider
    node.status, node.chain_node_id, node.payee = NODE_ACTIVE, 7, PAYEE
    s.add(Notification(user_id=node.provider_user_id, kind="k", dedupe_key="added", payload={"n": 2**70}))
    await undo.track(s, ev(12, 3))  # removes it, and the notification goes
    node.status = NODE_REMOVED
    await s.delete((await s.scalars(select(Notification))).one())
    await undo.track(s, None)
    await s.flush()
    assert await _fresh(s, node) == (NODE_REMOVED, 7, PAYEE, [])

    assert await undo.revert_above(s, CHAIN, 11) == 2  # block 12: an update and a delete
    assert await _fresh(s, node) == (NODE_ACTIVE, 7, PAYEE, ["added"])
    payload = (await s.scalars(select(Notification.payload))).one()
    assert payload == {"n": 2**70}  # the deleted row comes back whole
    assert await _journal(s) == 2  # block 10's entries stay

    assert await undo.revert_above(s, CHAIN, 9) == 2
    assert await _fresh(s, node) == (NODE_PENDING_CHAIN, None, None, [])
    assert await _journal(s) == 0
    assert await undo.revert_above(s, CHAIN, 0) == 0  # nothing left: a no-op


@BACKENDS
async def test_a_column_changed_since_keeps_its_newer_value(db_session, caplog) -> None:
    s = db_session
    node = await _node(s)
    await undo.track(s, ev(20))
    node.status, node.payee = NODE_ACTIVE, PAYEE
    await undo.track(s, None)  # what follows is not the event's: not journaled
    node.status = NODE_REMOVED  # e.g. a person's later decision
    node.name = "renamed"
    await s.flush()
    assert await _journal(s) == 1

    with caplog.at_level(logging.WARNING, logger="engine.indexer.undo"):
        assert await undo.revert_above(s, CHAIN, 19) == 1
    status, _, payee, _ = await _fresh(s, node)
    assert (status, payee) == (NODE_REMOVED, None)  # status kept, payee set back
    assert any("changed since" in r.getMessage() for r in caplog.records)


@BACKENDS
async def test_prune_forgets_entries_at_or_below_a_block(db_session) -> None:
    s = db_session
    node = await _node(s)
    for block in (30, 31, 32):
        await undo.track(s, ev(block))
        node.name = f"name-{block}"
    await undo.track(s, None)
    await undo.prune(s, CHAIN, 31)
    assert [e.block_number for e in (await s.scalars(select(ChainUndo))).all()] == [32]
    assert await undo.revert_above(s, CHAIN, 31) == 1
    assert (await _fresh(s, node))[0] == NODE_PENDING_CHAIN
    s.expunge_all()
    renamed = await s.get(Node, node.id)
    assert renamed is not None and renamed.name == "name-31"


@BACKENDS
async def test_statements_a_handler_executes_itself_are_journaled_too(db_session) -> None:
    s = db_session
    node = await _node(s)
    user = node.provider_user_id
    await undo.track(s, ev(40))
    first = await notify(s, user, "k", "key-1", "title", "body")  # INSERT .. ON CONFLICT .. RETURNING id
    again = await notify(s, user, "k", "key-1", "title", "body")  # deduplicated: no row, nothing journaled
    await s.execute(insert(Notification).values(user_id=user, kind="k", dedupe_key="key-2", payload={}))
    await s.execute(update(Node).where(Node.id == node.id).values(name="bulk", status=NODE_ACTIVE))
    await s.execute(delete(Notification).where(Notification.dedupe_key == "no-such-key"))
    await undo.track(s, None)
    assert first.created and not again.created
    assert (await _fresh(s, node))[3] == ["key-1", "key-2"]
    assert await _journal(s) == 3

    assert await undo.revert_above(s, CHAIN, 39) == 3
    status, _, _, keys = await _fresh(s, node)
    assert (status, keys) == (NODE_PENDING_CHAIN, [])
    s.expunge_all()
    restored = await s.get(Node, node.id)
    assert restored is not None and restored.name == "n"


def test_values_round_trip_through_the_tagged_json() -> None:
    from datetime import UTC, datetime
    from decimal import Decimal

    for value in (None, 1, 2**200, "x", [1, {"a": "b"}], b"\x00\x01", Decimal("1.5"), datetime.now(UTC)):
        assert undo.decode(undo.encode(value)) == value


# subscribers that write no rows (a wake-up only) need no journal: name -> why
WRITES_NOTHING: dict[str, str] = {}


def test_every_subscriber_the_runtime_registers_journals_its_changes() -> None:
    """Each ``indexer.on_events(X(...))`` / ``on_finalized`` in engine/runtime.py: X's module tags its
    session per event (``undo.track``), so that a reorg's rollback reverts what it wrote."""
    path = Path(__file__).resolve().parents[4] / "engine" / "runtime.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    origin = {
        alias.asname or alias.name: node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
    }
    registered = [
        node.args[0].func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("on_events", "on_finalized")
        and node.args
        and isinstance(node.args[0], ast.Call)
        and isinstance(node.args[0].func, ast.Name)
    ]
    assert {"MarketplaceSubscriber", "EscrowSubscriber"} <= set(registered), registered
    unjournaled = []
    for name in registered:
        if name in WRITES_NOTHING:
            continue
        module = importlib.import_module(origin[name])
        if "undo.track(" not in inspect.getsource(module):
            unjournaled.append(f"{name} ({module.__name__})")
    assert not unjournaled, (
        f"subscribers without undo.track: {unjournaled}; journal each event's changes "
        "(engine.indexer.undo) or list the subscriber in WRITES_NOTHING with the reason"
    )
