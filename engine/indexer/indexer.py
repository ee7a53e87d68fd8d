"""EventIndexer: follow the registered contracts' events from the chain into the database.

Choice: **index up to the head, derive finality.** Every pass indexes through the current head (the
wallet history and long-polls see an event one block after it is mined) and records
``final_block = head - confirmations + 1`` in the cursor; an event is ``final`` once it is at or below
it. A reorg inside the unconfirmed tail is the normal case and is rolled back; subscribers that must act
only on settled facts (confirming a deployment) listen to :meth:`EventIndexer.on_finalized`, those that
only need a wake-up (long-polls) to :meth:`EventIndexer.on_events`. Subscribers that write rows journal
them per event (:func:`engine.indexer.undo.track`), so a rollback takes their effects back with the events
and the database stays what a fresh re-index of the chain builds (why not "apply only final events": see
:mod:`engine.indexer.undo`).

A pass (:meth:`EventIndexer.run_once`):

1. reconcile: compare the stored hash of the cursor block with the chain; on mismatch walk back through
   the stored blocks (the last ``reorg_window``) to the highest one the chain still has, delete the
   events and blocks above it, revert what the subscribers derived from those events (their undo journal,
   :mod:`engine.indexer.undo`, in the same transaction), rewind the cursor, and tell :meth:`on_rollback`
   subscribers;
2. index ``cursor+1 .. head`` in ranges of ``batch_blocks``: ``eth_getLogs`` for all registered
   addresses and event topics, plus the headers of the range's last ``reorg_window`` blocks (one JSON-RPC
   batch). The headers must chain onto the cursor and onto each other, and every log's block hash must
   match its header — otherwise the node answered from two forks mid-pass and the range is re-done after
   another reconcile. Each range is decoded with per-event decoders built once
   (:mod:`engine.indexer.decoding`) and stored as ONE database transaction (events, block hashes, cursor)
   with one bulk insert per table (:func:`engine.indexer.store.save_range`).

   Pipelined (the fetch is I/O against the node, the rest CPU and database): a range's logs are asked
   for as up to ``log_requests`` ``eth_getLogs`` over consecutive sub-ranges, all in flight at once, and
   each is decoded as soon as it arrives while the node still serves the later ones; and the NEXT
   range's requests are sent before this one is stored. Nothing fetched ahead is trusted early: it
   passes the same checks against the cursor once the range before it is committed, and is dropped
   (requests cancelled) when that range fails or is re-done.
3. after each commit, call the subscribers (post-commit work goes there, after ``save_range``'s
   transaction, never inside it).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chain import jsonrpc as rpc
from chain.connect import ChainConnection
from chain.deploy import Manifest
from engine.indexer import fetch, store
from engine.indexer.decoding import ContractSpec, DecodedLog, EventCatalog, gc_paused
from engine.indexer.errors import InconsistentChain, IndexerConflict, IndexerError, ReorgTooDeep
from engine.indexer.interfaces import EventsCallback, IndexedEvent, IndexProgress
from engine.indexer.models import ChainBlock, IndexerCursor
from engine.indexer.services import events_between, to_indexed

log = logging.getLogger(__name__)

_MIN_PIECE_BLOCKS = 8  # a range shorter than 2 x this is one request


@dataclass
class _RangeFetch:
    """A range's requests in flight: its headers and its logs, piece by piece in block order."""

    span: tuple[int, int]
    headers: asyncio.Future[dict[int, fetch.BlockHeader | None]]
    logs: list[asyncio.Future[list[Any]]]

    def cancel(self) -> None:
        futures: list[asyncio.Future[Any]] = [self.headers, *self.logs]
        for future in futures:
            if not future.done():
                future.cancel()
            elif not future.cancelled():
                future.exception()  # retrieved: a failure nobody awaits is not "never retrieved"


class EventIndexer:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        conn: ChainConnection,
        manifest: Manifest,
        contracts: Sequence[ContractSpec | str],
        *,
        confirmations: int,
        batch_blocks: int = 2000,
        reorg_window: int = 128,
        start_block: int | None = None,
        poll_interval: float = 1.0,
        max_retries: int = 3,
        log_requests: int = 4,
    ) -> None:
        if confirmations < 1 or batch_blocks < 1 or reorg_window < 1 or log_requests < 1:
            raise ValueError("confirmations, batch_blocks, reorg_window and log_requests must be >= 1")
        if manifest.chain_id != conn.chain_id:
            raise ValueError(f"manifest is for chain {manifest.chain_id}, connection is {conn.chain_id}")
        self.sessionmaker = sessionmaker
        self.conn = conn
        self.chain_id = conn.chain_id
        self.catalog = EventCatalog.build(manifest, contracts)
        names = [c if isinstance(c, str) else c.name for c in contracts]
        self.start_block = (
            start_block
            if start_block is not None
            else min((manifest.contracts[n].block_number for n in names), default=manifest.deployed_at_block)
        )
        self.confirmations = confirmations
        self.batch_blocks = batch_blocks
        self.reorg_window = reorg_window
        self.poll_interval = poll_interval
        self.max_retries = max_retries
        self.log_requests = log_requests  # eth_getLogs in flight per range (1 for a rate-limited node)
        self._on_events: list[EventsCallback] = []
        self._on_rollback: list[EventsCallback] = []
        self._on_finalized: list[EventsCallback] = []

    # ---- subscribers ---------------------------------------------------------------------------

    def on_events(self, callback: EventsCallback) -> None:
        """``callback(events)`` after each committed range with its new events (maybe not final yet)."""
        self._on_events.append(callback)

    def on_rollback(self, callback: EventsCallback) -> None:
        """``callback(events)`` after a reorg rollback committed, with the events it removed."""
        self._on_rollback.append(callback)

    def on_finalized(self, callback: EventsCallback) -> None:
        """``callback(events)`` with the events that just reached ``confirmations``."""
        self._on_finalized.append(callback)

    async def _notify(self, callbacks: list[EventsCallback], events: Sequence[IndexedEvent]) -> None:
        if not events:
            return
        for callback in list(callbacks):
            try:
                result = callback(events)
                if inspect.isawaitable(result):
                    await result
            except Exception:  # a subscriber's bug must not stop indexing (the rows are committed)
                log.exception("indexer subscriber %r failed", callback)

    # ---- one pass ------------------------------------------------------------------------------

    async def _cursor(self) -> IndexerCursor | None:
        async with self.sessionmaker() as session:
            return await session.get(IndexerCursor, self.chain_id)

    async def run_once(self) -> IndexProgress:
        """Reconcile with the chain, then index through the current head. See the module docstring."""
        head = await fetch.head_number(self.conn)
        progress = IndexProgress(chain_id=self.chain_id, head=head, cursor=None, final_block=None)
        cursor = await self._reconcile(progress)
        ahead: _RangeFetch | None = None  # the next range's requests, sent while this one is stored
        try:
            while True:
                start = cursor.block_number + 1 if cursor is not None else self.start_block
                if start > head:
                    break
                end = min(start + self.batch_blocks - 1, head)
                fetched = ahead if ahead is not None and ahead.span == (start, end) else None
                if ahead is not None and fetched is None:
                    ahead.cancel()
                ahead = None
                try:
                    headers, decoded = await self._receive(
                        fetched or self._start_fetch(start, end), cursor, start, end
                    )
                    if end < head:
                        ahead = self._start_fetch(end + 1, min(end + self.batch_blocks, head))
                    cursor = await self._store(cursor, start, end, head, headers, decoded, progress)
                except InconsistentChain as exc:
                    if ahead is not None:
                        ahead.cancel()
                        ahead = None
                    progress.retries += 1
                    if progress.retries > self.max_retries:
                        raise
                    log.info("indexer: %s; reconciling and retrying", exc)
                    cursor = await self._reconcile(progress)
        finally:
            if ahead is not None:
                ahead.cancel()
        if cursor is not None:
            progress.cursor, progress.final_block = cursor.block_number, cursor.final_block
        return progress

    async def _reconcile(self, progress: IndexProgress) -> IndexerCursor | None:
        """Roll back what a reorg removed; returns the (maybe rewound) cursor."""
        cursor = await self._cursor()
        if cursor is None:
            return None
        current = (await fetch.headers(self.conn, [cursor.block_number]))[cursor.block_number]
        if current is not None and current.hash == cursor.block_hash:
            return cursor
        async with self.sessionmaker() as session:
            stored = await store.stored_blocks(session, self.chain_id, cursor.block_number)
        fork = await self._fork_point(stored, cursor)
        async with self.sessionmaker() as session, session.begin():
            rows = await store.rollback_to(
                session, self.chain_id, expected=(cursor.block_number, cursor.block_hash), fork=fork
            )
            removed = [to_indexed(row, None) for row in rows]
        log.warning(
            "indexer: chain %s reorg, rewound from block %s to %s, %s events removed",
            self.chain_id,
            cursor.block_number,
            fork.number,
            len(removed),
        )
        progress.fork_block = fork.number
        progress.rolled_back += len(removed)
        await self._notify(self._on_rollback, removed)
        return await self._cursor()

    async def _fork_point(self, stored: list[ChainBlock], cursor: IndexerCursor) -> ChainBlock:
        chain = await fetch.headers(self.conn, [b.number for b in stored])
        for block in stored:  # newest first
            header = chain[block.number]
            if header is not None and header.hash == block.hash:
                return block
        low = stored[-1].number if stored else cursor.block_number
        raise ReorgTooDeep(self.chain_id, low, cursor.block_number)

    def _start_fetch(self, start: int, end: int) -> _RangeFetch:
        """Send a range's requests: the headers of its first block and of its last ``reorg_window``
        blocks (one batch), and its logs as up to ``log_requests`` ``eth_getLogs`` over consecutive
        sub-ranges, all in flight at once (the node works on the later pieces while the first is decoded).
        """
        numbers = {start, *range(max(start, end - self.reorg_window + 1), end + 1)}
        blocks = end - start + 1
        pieces = max(1, min(self.log_requests, blocks // _MIN_PIECE_BLOCKS))
        size = -(-blocks // pieces)
        return _RangeFetch(
            (start, end),
            asyncio.ensure_future(fetch.headers(self.conn, numbers)),
            [
                asyncio.ensure_future(fetch.logs(self.conn, self.catalog, a, min(a + size - 1, end)))
                for a in range(start, end + 1, size)
            ],
        )

    async def _receive(
        self, fetched: _RangeFetch, cursor: IndexerCursor | None, start: int, end: int
    ) -> tuple[list[fetch.BlockHeader], list[DecodedLog]]:
        """The range's checked headers and decoded, checked logs in chain order; each piece of logs is
        decoded as soon as it arrives, while the node still serves the later ones."""
        try:
            decoded: list[DecodedLog] = []
            # Cyclic GC held off while the pieces' responses are parsed (on this loop, between the awaits)
            # and decoded: tens of thousands of dicts and lists, no cyclic garbage. With it on, that burst
            # set off full collections of the whole heap (a quarter of a catch-up's wall time in
            # bench/indexer.py). Other coroutines meanwhile only see collection delayed, at most for
            # the node's request timeout.
            with gc_paused():
                for piece in fetched.logs:
                    decoded += self._decoded_logs(await piece, start, end)
                headers = await fetched.headers
        finally:
            fetched.cancel()  # a failure leaves no request behind (no-op once all are done)
        chain = self._checked_headers(headers, cursor, start)
        for item in decoded:
            header = headers.get(item.block_number)
            if header is not None and header.hash != item.block_hash:
                raise InconsistentChain(self.chain_id, item.block_number, "log from another fork")
        decoded.sort(key=attrgetter("block_number", "log_index"))
        return chain, decoded

    async def _store(
        self,
        cursor: IndexerCursor | None,
        start: int,
        end: int,
        head: int,
        chain: list[fetch.BlockHeader],
        decoded: list[DecodedLog],
        progress: IndexProgress,
    ) -> IndexerCursor:
        tip = chain[-1]
        old_final = cursor.final_block if cursor is not None else self.start_block - 1
        final = max(old_final, min(end, head - self.confirmations + 1))
        async with self.sessionmaker() as session, session.begin():
            new_events = await store.save_range(
                session,
                self.chain_id,
                expected=(cursor.block_number, cursor.block_hash) if cursor is not None else None,
                logs=decoded,
                headers=chain,
                tip=tip,
                final_block=final,
                reorg_window=self.reorg_window,
            )
        progress.ranges.append((start, end))
        progress.events += len(new_events)
        # committed: from here on, post-commit work only (subscribers, wake-ups)
        await self._notify(self._on_events, new_events)
        if final > old_final and self._on_finalized:
            async with self.sessionmaker() as session:
                await self._notify(
                    self._on_finalized, await events_between(session, self.chain_id, old_final, final)
                )
        return IndexerCursor(
            chain_id=self.chain_id, block_number=tip.number, block_hash=tip.hash, final_block=final
        )

    def _checked_headers(
        self, headers: dict[int, fetch.BlockHeader | None], cursor: IndexerCursor | None, start: int
    ) -> list[fetch.BlockHeader]:
        chain: list[fetch.BlockHeader] = []
        for number in sorted(headers):
            header = headers[number]
            if header is None or header.number != number:
                raise InconsistentChain(self.chain_id, number, "block missing (chain shortened by a reorg?)")
            if chain and chain[-1].number == number - 1 and header.parent_hash != chain[-1].hash:
                raise InconsistentChain(self.chain_id, number, "parent hash does not match the block before")
            chain.append(header)
        first = chain[0]
        if cursor is not None and first.number == start and first.parent_hash != cursor.block_hash:
            raise InconsistentChain(self.chain_id, start, "does not extend the indexed chain (reorg)")
        return chain

    def _decoded_logs(self, raw_logs: list[object], start: int, end: int) -> list[DecodedLog]:
        """The registered events among ``raw_logs``, decoded; the block hashes are checked by the caller
        against the range's headers."""
        decoded: list[DecodedLog] = []
        for raw in raw_logs:
            if not isinstance(raw, dict):
                raise InconsistentChain(self.chain_id, start, f"malformed log {raw!r}")
            if raw.get("removed"):
                raise InconsistentChain(self.chain_id, start, "node returned a removed log")
            item = self.catalog.decode(raw)
            if item is None:
                continue
            if not start <= item.block_number <= end:
                raise InconsistentChain(self.chain_id, item.block_number, "log outside the requested range")
            decoded.append(item)
        return decoded

    # ---- forever -------------------------------------------------------------------------------

    async def run_forever(self, stop: asyncio.Event, *, poll_interval: float | None = None) -> None:
        """Run passes until ``stop`` is set, sleeping ``poll_interval`` between them.

        Transport and database errors are logged and retried next poll; :class:`ReorgTooDeep` is raised
        (it needs an operator: :func:`engine.indexer.store.reset_chain` then re-index).
        """
        interval = self.poll_interval if poll_interval is None else poll_interval
        while not stop.is_set():
            try:
                await self.run_once()
            except ReorgTooDeep:
                raise
            except (IndexerConflict, InconsistentChain, rpc.RpcError, SQLAlchemyError, OSError) as exc:
                log.warning("indexer pass failed, retrying: %s", exc)
            except IndexerError:
                raise
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except TimeoutError:
                pass
