"""EventIndexer against a real anvil (and eth-tester), on SQLite and PostgreSQL.

One anvil for the module (its chain is reorged here, so not the session anvil), the suite deployed once;
every test indexes into its own fresh database from the suite's deployment block.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from chain.connect import ChainConnection, connect
from chain.contracts import CreditTokenClient
from chain.deploy import Manifest, deploy_suite, suggest_fees
from chain.devchain import Anvil, dev_signer_key, rpc
from chain.signer import LocalSigner, SignedTx, TxRequest
from engine import db
from engine.indexer import store
from engine.indexer.errors import ReorgTooDeep
from engine.indexer.indexer import EventIndexer
from engine.indexer.interfaces import IndexedEvent
from engine.indexer.models import ChainBlock, ChainEvent, IndexerCursor
from engine.indexer.services import events_between, events_by_ref, events_for_account, get_cursor

BACKENDS = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
BOB = "0x" + "b0" * 20
_refs = iter(range(1, 10**9))


def new_account() -> str:
    """An address no other test of the module touches (lower-case)."""
    return "0x" + (0xACC0 << 140 | next(_refs)).to_bytes(20, "big").hex()


def new_ref() -> bytes:
    return (0x1DE7 << 200 | next(_refs)).to_bytes(32, "big")


@dataclass
class Deployed:
    conn: ChainConnection
    signer: LocalSigner
    manifest: Manifest

    @property
    def token(self) -> CreditTokenClient:
        return CreditTokenClient(self.conn.w3, self.manifest.address("CreditToken"))

    async def sign(self, data: bytes) -> SignedTx:
        nonce = int(await self.conn.w3.eth.get_transaction_count(self.signer.address, "pending"))
        max_fee, tip = await suggest_fees(self.conn)
        return self.signer.sign(
            TxRequest(self.conn.chain_id, nonce, self.token.address, data, 0, 200_000, max_fee, tip)
        )

    async def send_raw(self, signed: SignedTx) -> int:
        """Broadcast and wait; returns the block number."""
        await self.conn.w3.eth.send_raw_transaction(signed.raw)
        receipt = await self.conn.w3.eth.wait_for_transaction_receipt(signed.hash, poll_latency=0.02)
        assert receipt["status"] == 1
        return int(receipt["blockNumber"])

    async def mint(self, to: str, amount: int, ref: bytes) -> tuple[SignedTx, int]:
        signed = await self.sign(self.token.encode_mint(to, amount, ref))
        return signed, await self.send_raw(signed)

    async def transfer(self, to: str, amount: int) -> int:
        return await self.send_raw(await self.sign(self.token.encode_transfer(to, amount)))


@pytest.fixture(scope="module")
def own_anvil() -> Iterator[Anvil]:
    with Anvil() as node:
        yield node


async def _deploy(conn: ChainConnection, tmp_path_factory: pytest.TempPathFactory) -> Deployed:
    signer = LocalSigner(dev_signer_key(conn))
    manifest = await deploy_suite(conn, signer, manifest_dir=tmp_path_factory.mktemp("idx-manifest"))
    return Deployed(conn, signer, manifest)


@pytest.fixture(scope="module")
async def chain(own_anvil: Anvil, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Deployed]:
    conn = await connect(own_anvil.url)
    try:
        yield await _deploy(conn, tmp_path_factory)
    finally:
        await conn.close()


@pytest.fixture
async def sessionmaker(database_url: str):
    engine = db.make_engine(database_url)
    try:
        yield db.make_sessionmaker(engine)
    finally:
        await engine.dispose()


def indexer(sm, chain: Deployed, **kwargs) -> EventIndexer:
    kwargs.setdefault("confirmations", 1)
    return EventIndexer(sm, chain.conn, chain.manifest, ["CreditToken", "Multicall"], **kwargs)


async def count_events(sm) -> int:
    async with sm() as s:
        return (await s.execute(select(func.count()).select_from(ChainEvent))).scalar_one()


@BACKENDS
async def test_mints_and_transfers_are_indexed_once(chain: Deployed, sessionmaker) -> None:
    me, ref, big = chain.signer.address, new_ref(), 2**200 + 7  # beyond int64 and float precision
    bob = new_account()
    _, mint_block = await chain.mint(me, big, ref)
    transfer_block = await chain.transfer(bob, 300)
    idx = indexer(sessionmaker, chain)
    seen: list[IndexedEvent] = []
    idx.on_events(seen.extend)

    progress = await idx.run_once()
    assert progress.caught_up and progress.cursor == progress.head >= transfer_block
    assert progress.events == len(seen) == await count_events(sessionmaker) > 0

    async with sessionmaker() as s:
        minted = await events_by_ref(s, chain.conn.chain_id, ref)
        history = await events_for_account(s, chain.conn.chain_id, "0x" + bob[2:].upper())
        mine = await events_for_account(s, chain.conn.chain_id, me, events=["CreditMinted"], limit=500)
        cursor = await get_cursor(s, chain.conn.chain_id)
    assert [(e.event, e.block_number, e.int_arg("amount"), e.args["to"]) for e in minted] == [
        ("CreditMinted", mint_block, big, me)
    ]
    assert minted[0].args["amount"] == str(big) and minted[0].final
    assert [(e.event, e.args["from"], e.args["to"].lower(), e.int_arg("value")) for e in history.events] == [
        ("Transfer", me, bob, 300)
    ]
    assert history.events[0].block_number == transfer_block and history.next_cursor is None
    assert minted[0] in mine.events
    assert cursor is not None and cursor.block_number == progress.head

    again = await idx.run_once()  # idempotent: nothing new, nothing twice
    assert again.events == 0 and again.ranges == [] and again.fork_block is None
    assert await count_events(sessionmaker) == progress.events


@BACKENDS
@pytest.mark.parametrize("depth", [1, 2])
async def test_reorg_rolls_back_and_re_mined_tx_is_indexed_once(
    chain: Deployed, sessionmaker, depth: int
) -> None:
    ref = new_ref()
    signed, mint_block = await chain.mint(chain.signer.address, 5_000_000, ref)
    if depth == 2:
        await chain.transfer(BOB, 1)  # the mint is now one block below the head
    idx = indexer(sessionmaker, chain)
    removed: list[IndexedEvent] = []
    idx.on_rollback(removed.extend)
    first = await idx.run_once()
    cid = chain.conn.chain_id
    async with sessionmaker() as s:
        assert len(await events_by_ref(s, cid, ref)) == 1

    await rpc(chain.conn, "anvil_reorg", depth, [])  # replaces the last `depth` blocks, drops their txs
    after = await idx.run_once()
    assert after.fork_block == first.head - depth and after.head == first.head
    assert {e.tx_hash for e in removed} >= {signed.hash.lower()}
    assert all(e.block_number > first.head - depth for e in removed)
    assert after.rolled_back == len(removed) and after.cursor == after.head
    async with sessionmaker() as s:
        assert await events_by_ref(s, cid, ref) == []
        head_block = await s.get(ChainBlock, (cid, after.head))
        cursor = await get_cursor(s, cid)
        left = (
            (await s.execute(select(ChainEvent).where(ChainEvent.block_number > first.head - depth)))
            .scalars()
            .all()
        )
    assert left == []  # the replacement blocks are empty
    fresh = await chain.conn.w3.eth.get_block(after.head)
    assert head_block is not None and head_block.hash == fresh["hash"].to_0x_hex()
    assert cursor is not None and cursor.block_hash == head_block.hash

    # the dropped transaction comes back in a later block: indexed again, exactly once
    re_mined = await chain.send_raw(signed)
    assert re_mined > mint_block
    third = await idx.run_once()
    assert third.fork_block is None and third.events == 2  # Transfer + CreditMinted
    await idx.run_once()
    async with sessionmaker() as s:
        again = await events_by_ref(s, cid, ref)
    assert [(e.block_number, e.tx_hash) for e in again] == [(re_mined, signed.hash.lower())]


async def test_range_larger_than_batch_is_split(chain: Deployed, sessionmaker, database_url) -> None:
    bob = new_account()
    for amount in (1, 2, 3):
        await chain.mint(bob, amount, new_ref())
    idx = indexer(sessionmaker, chain, batch_blocks=3)
    progress = await idx.run_once()
    start = idx.start_block
    assert progress.ranges[0][0] == start and progress.ranges[-1][1] == progress.head
    assert all(b - a + 1 <= 3 for a, b in progress.ranges)
    assert len(progress.ranges) == -(-(progress.head - start + 1) // 3) >= 2
    assert [a for a, _ in progress.ranges[1:]] == [b + 1 for _, b in progress.ranges[:-1]]
    # the same events as one big range
    other_url = database_url.replace(".db", "-whole.db")
    await db.upgrade(other_url)
    engine = db.make_engine(other_url)
    try:
        whole_sm = db.make_sessionmaker(engine)
        whole = await indexer(whole_sm, chain).run_once()
        async with whole_sm() as s:
            in_pieces = await events_between(s, chain.conn.chain_id, start - 1, whole.head)
    finally:
        await engine.dispose()
    assert len(whole.ranges) == 1 and whole.events == progress.events
    # the whole range's logs came as several eth_getLogs in flight (log_requests=4): one request finds
    # the same events, in the same order
    assert progress.head - start + 1 >= 16  # enough blocks for more than one piece
    one_url = database_url.replace(".db", "-one.db")
    await db.upgrade(one_url)
    engine = db.make_engine(one_url)
    try:
        one_sm = db.make_sessionmaker(engine)
        single = await indexer(one_sm, chain, log_requests=1).run_once()
        async with one_sm() as s:
            in_one = await events_between(s, chain.conn.chain_id, start - 1, whole.head)
    finally:
        await engine.dispose()
    assert single.head == whole.head and single.events == whole.events and in_one == in_pieces
    async with sessionmaker() as s:
        page = await events_for_account(s, chain.conn.chain_id, bob, limit=2)
        rest = await events_for_account(s, chain.conn.chain_id, bob, cursor=page.next_cursor, limit=500)
    history = page.events + rest.events
    assert [e.position for e in history] == sorted((e.position for e in history), reverse=True)
    assert len({e.position for e in history}) == len(history) == 6  # 3 mints x (Transfer, CreditMinted)
    assert sorted(e.int_arg("amount") for e in history if e.event == "CreditMinted") == [1, 2, 3]
    assert page.next_cursor is not None and rest.next_cursor is None


async def test_finality_follows_confirmations(chain: Deployed, sessionmaker) -> None:
    idx = indexer(sessionmaker, chain, confirmations=3)
    await idx.run_once()
    finalized: list[IndexedEvent] = []
    idx.on_finalized(finalized.extend)
    ref = new_ref()
    _, block = await chain.mint(BOB, 9, ref)
    await idx.run_once()
    async with sessionmaker() as s:
        (event,) = await events_by_ref(s, chain.conn.chain_id, ref)
    assert not event.final and all(e.block_number < block for e in finalized)
    await rpc(chain.conn, "evm_mine")
    await rpc(chain.conn, "evm_mine")  # block + 2 is the head: 3 confirmations
    progress = await idx.run_once()
    assert progress.final_block == block
    async with sessionmaker() as s:
        (event,) = await events_by_ref(s, chain.conn.chain_id, ref)
    assert event.final
    assert [e.event for e in finalized if e.block_number == block] == ["Transfer", "CreditMinted"]


async def test_reorg_deeper_than_window_raises_and_reset_recovers(chain: Deployed, sessionmaker) -> None:
    idx = indexer(sessionmaker, chain, reorg_window=1)
    await chain.mint(BOB, 1, new_ref())
    await chain.mint(BOB, 2, new_ref())
    await idx.run_once()
    await rpc(chain.conn, "anvil_reorg", 2, [])
    with pytest.raises(ReorgTooDeep) as info:
        await idx.run_once()
    assert info.value.chain_id == chain.conn.chain_id
    async with sessionmaker() as s, s.begin():
        await store.reset_chain(s, chain.conn.chain_id)
    progress = await idx.run_once()
    assert progress.caught_up and progress.fork_block is None
    async with sessionmaker() as s:
        assert (await s.get(IndexerCursor, chain.conn.chain_id)) is not None


async def test_run_forever_stops(chain: Deployed, sessionmaker) -> None:
    idx = indexer(sessionmaker, chain, poll_interval=0.01)
    woke = asyncio.Event()
    ref = new_ref()

    async def wake_on_ref(events) -> None:  # an async subscriber, as a long-poll would be
        if any(e.ref == "0x" + ref.hex() for e in events):
            woke.set()

    idx.on_events(wake_on_ref)
    stop = asyncio.Event()
    task = asyncio.create_task(idx.run_forever(stop))
    await chain.mint(BOB, 11, ref)
    await asyncio.wait_for(woke.wait(), timeout=30)
    stop.set()
    await asyncio.wait_for(task, timeout=30)
    async with sessionmaker() as s:
        (event,) = await events_by_ref(s, chain.conn.chain_id, ref)
    assert event.int_arg("amount") == 11


async def test_eth_tester_indexes_a_mint(
    tester_conn: ChainConnection, tmp_path_factory: pytest.TempPathFactory, sessionmaker
) -> None:
    deployed = await _deploy(tester_conn, tmp_path_factory)
    ref = new_ref()
    _, block = await deployed.mint(BOB, 123_456, ref)
    idx = indexer(sessionmaker, deployed)
    progress = await idx.run_once()
    assert progress.caught_up
    async with sessionmaker() as s:
        minted = await events_by_ref(s, tester_conn.chain_id, ref, event="CreditMinted")
        bob = await events_for_account(s, tester_conn.chain_id, BOB)
    assert [(e.block_number, e.int_arg("amount"), e.args["to"].lower()) for e in minted] == [
        (block, 123_456, BOB)
    ]
    assert [e.event for e in bob.events][:2] == ["CreditMinted", "Transfer"]
    assert (await idx.run_once()).events == 0
