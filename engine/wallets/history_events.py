"""The indexer subscriber that writes the on-chain items of the wallet history (``wallet_history``).

For each committed range it takes the ``CreditToken`` events that move credit (``Transfer``,
``CreditMinted``), classifies each for the addresses it names (:func:`engine.wallets.commands.classify`:
kind and direction, a mint's ``Transfer`` folded into its ``CreditMinted``, the escrow's refunds told from
withdrawals by the other events of the transaction) and writes one row per (event, address) it concerns,
owner ``w:<address>``, dated by the block's timestamp (one JSON-RPC batch per range; ``0`` when the node
cannot say). Each event's rows are written under :func:`engine.indexer.undo.track`, so the rollback of a
reorg deletes them with the events, and a replayed range writes nothing twice (unique ``(owner, ref)``,
existing refs of the range read first).

The escrow and the engine's signer are the counterparties that give transfers their kind; neither gets a
history of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chain import jsonrpc
from chain.connect import ChainConnection
from engine.indexer import undo
from engine.indexer.interfaces import IndexedEvent
from engine.indexer.models import ChainEvent
from engine.indexer.services import events_between
from engine.wallets.commands import ZERO_ADDRESS, Counterparties, classify
from engine.wallets.history import CHAIN_PREFIX, wallet_owner
from engine.wallets.models import WalletHistoryEntry as H

CREDIT_TOKEN = "CreditToken"  # noqa: S105 - a contract name
MOVES = ("Transfer", "CreditMinted")
Movement = tuple[IndexedEvent, str, str, str]  # (event, address, kind, direction)


def chain_ref(ev: IndexedEvent) -> str:
    return f"{CHAIN_PREFIX}{ev.block_number}:{ev.log_index}"


def movements(events: Sequence[IndexedEvent], parties: Counterparties) -> list[Movement]:
    """``(event, address, kind, direction)`` for every credit movement among ``events`` and every address
    it concerns, in chain order."""
    by_tx: dict[str, list[IndexedEvent]] = {}
    for ev in events:
        by_tx.setdefault(ev.tx_hash, []).append(ev)
    skip = {ZERO_ADDRESS, parties.escrow, parties.signer}
    out: list[Movement] = []
    for ev in sorted(events, key=lambda e: e.position):
        if ev.contract != CREDIT_TOKEN or ev.event not in MOVES:
            continue
        names = (
            [ev.args.get("to")] if ev.event == "CreditMinted" else [ev.args.get("from"), ev.args.get("to")]
        )
        for address in dict.fromkeys(str(a).lower() for a in names if a):
            if address in skip:
                continue
            what = classify(ev, address, by_tx[ev.tx_hash], parties)
            if what is not None:
                out.append((ev, address, what[0], what[1]))
    return out


async def block_times(conn: ChainConnection | None, blocks: Sequence[int]) -> dict[int, int]:
    if conn is None or not blocks:
        return {}
    try:
        results = await jsonrpc.batch(conn, [("eth_getBlockByNumber", [hex(b), False]) for b in blocks])
    except Exception:  # an unreachable node must not lose the items: dated 0 (the oldest)
        return {}
    return {
        b: int(r.result["timestamp"], 16) if r.ok and r.result else 0
        for b, r in zip(blocks, results, strict=True)
    }


async def write_movements(session: AsyncSession, moves: Sequence[Movement], times: dict[int, int]) -> int:
    """Add the rows not written yet (journaled per event); returns how many were added."""
    if not moves:
        return 0
    lo = min(ev.block_number for ev, *_ in moves)
    hi = max(ev.block_number for ev, *_ in moves)
    rows = await session.execute(select(H.owner, H.ref).where(H.block_number >= lo, H.block_number <= hi))
    existing: set[tuple[str, str]] = {(str(o), str(r)) for o, r in rows.all()}
    added = 0
    current: IndexedEvent | None = None
    for ev, address, kind, direction in moves:
        owner, ref = wallet_owner(address), chain_ref(ev)
        if (owner, ref) in existing:
            continue
        if ev is not current:
            await undo.track(session, ev)
            current = ev
        amount: Any = ev.args.get("value", ev.args.get("amount"))
        session.add(
            H(
                owner=owner,
                at=times.get(ev.block_number, 0),
                ref=ref,
                type=f"chain.{ev.event}",
                kind=kind,
                direction=direction,
                credit_units=int(amount) if amount is not None else None,
                status="",
                tx_hash=ev.tx_hash,
                wallet=address,
                from_address=ev.args.get("from"),
                to_address=ev.args.get("to"),
                block_number=ev.block_number,
            )
        )
        existing.add((owner, ref))
        added += 1
    await undo.track(session, None)
    return added


class HistorySubscriber:
    """Registered with ``EventIndexer.on_events`` (engine.runtime)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        conn: ChainConnection | None,
        parties: Counterparties,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.conn = conn
        self.parties = parties

    async def __call__(self, events: Sequence[IndexedEvent]) -> None:
        await self.apply(events)

    async def apply(self, events: Sequence[IndexedEvent]) -> int:
        """Write the rows of ``events``; returns how many were added."""
        moves = movements(events, self.parties)
        if not moves:
            return 0
        times = await block_times(self.conn, sorted({ev.block_number for ev, *_ in moves}))
        async with self.sessionmaker() as session, session.begin():
            return await write_movements(session, moves, times)


async def subscriber(
    sessionmaker: async_sessionmaker[AsyncSession], conn: ChainConnection, manifest: Any, signer: str | None
) -> HistorySubscriber:
    """The subscriber of a deployed suite (its escrow and the engine's signer are the counterparties), once
    the items indexed before it existed are written (:func:`backfill`)."""
    escrow = manifest.address("DeploymentEscrow") if "DeploymentEscrow" in manifest.contracts else None
    parties = Counterparties(
        escrow=escrow.lower() if escrow else None, signer=signer.lower() if signer else None
    )
    await backfill(sessionmaker, conn, parties, conn.chain_id)  # items indexed before the table existed
    return HistorySubscriber(sessionmaker, conn, parties)


async def backfill(
    sessionmaker: async_sessionmaker[AsyncSession],
    conn: ChainConnection | None,
    parties: Counterparties,
    chain_id: int,
    *,
    blocks_per_step: int = 500,
) -> int:
    """Write the items of credit movements indexed before this table existed (run by engine.runtime before
    the indexer starts; idempotent). Nothing to do once the newest such event has its row. Walks the blocks
    that hold such events, ``blocks_per_step`` blocks per JSON-RPC batch and transaction; returns the rows
    added."""
    moving = (
        ChainEvent.chain_id == chain_id,
        ChainEvent.contract == CREDIT_TOKEN,
        ChainEvent.event.in_(MOVES),
    )
    async with sessionmaker() as session:
        newest = await session.scalar(select(func.max(ChainEvent.block_number)).where(*moving))
        written = await session.scalar(select(func.max(H.block_number)))
    if newest is None or (written is not None and written >= newest):
        return 0
    added = 0
    after = -1
    while True:
        async with sessionmaker() as session:
            blocks = list(
                (
                    await session.scalars(
                        select(ChainEvent.block_number)
                        .where(*moving, ChainEvent.block_number > after)
                        .group_by(ChainEvent.block_number)
                        .order_by(ChainEvent.block_number)
                        .limit(blocks_per_step)
                    )
                ).all()
            )
            if not blocks:
                return added
            events = await events_between(session, chain_id, blocks[0] - 1, blocks[-1])
        moves = movements(events, parties)
        times = await block_times(conn, sorted({ev.block_number for ev, *_ in moves}))
        async with sessionmaker() as session, session.begin():
            added += await write_movements(session, moves, times)
        after = blocks[-1]
