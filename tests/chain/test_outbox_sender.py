"""The outbox sender against a real anvil and real databases (SQLite and PostgreSQL).

Every test signs with a brand-new key funded through ``anvil_setBalance`` and pays fresh addresses, so
the shared session anvil's other users cannot disturb its nonces or balances. Tests that stop mining or
reorganize the chain get their own anvil.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
from eth_account import Account
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chain import jsonrpc as rpc
from chain.connect import ChainConnection, connect
from chain.devchain import Anvil
from chain.signer import LocalSigner, TxRequest
from engine import db
from engine.outbox.models import OutboxAttempt, OutboxStatus, OutboxTx
from engine.outbox.sender import OutboxSender, Progress
from engine.outbox.services import enqueue, get_by_key, wait_confirmed

pytestmark = pytest.mark.anvil
BACKENDS = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
GWEI = 10**9
ETH = 10**18
REVERTER_CODE = "0x60006000fd"  # PUSH1 0 PUSH1 0 REVERT: every call reverts with empty data


@pytest.fixture
async def sm(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = db.make_engine(database_url)
    yield db.make_sessionmaker(engine)
    await engine.dispose()


async def funded_signer(conn: ChainConnection) -> LocalSigner:
    signer = LocalSigner("0x" + secrets.token_hex(32))
    await rpc.call_ok(conn, "anvil_setBalance", [signer.address, hex(1000 * ETH)])
    return signer


def fresh_address() -> str:
    return str(Account.create().address)


def make_sender(
    sm: async_sessionmaker[AsyncSession], conn: ChainConnection, signer: LocalSigner, **kw: Any
) -> OutboxSender:
    opts: dict[str, Any] = {
        "confirmations": 1,
        "replace_after": 3600.0,
        "max_fee_cap": 500 * GWEI,
        "poll_interval": 0.05,
    }
    opts.update(kw)
    return OutboxSender(sm, conn, signer, **opts)


async def drain(sender: OutboxSender, max_passes: int = 100, seconds: float = 60.0) -> None:
    """Run passes until nothing is left; at least ``max_passes`` passes and at most ``seconds`` (a loaded
    machine may need more passes before anvil has mined what was sent)."""
    deadline = asyncio.get_running_loop().time() + seconds
    passes = 0
    while passes < max_passes or asyncio.get_running_loop().time() < deadline:
        passes += 1
        progress = await sender.run_once()
        if not progress and progress.in_flight == 0:
            return
        if not progress:
            await asyncio.sleep(0.02)
    raise AssertionError("sender did not finish")


async def enqueue_transfer(sm: async_sessionmaker[AsyncSession], key: str, to: str, value: int) -> None:
    async with sm() as s, s.begin():
        await enqueue(s, kind="transfer", to=to, data=b"", value=value, idempotency_key=key, args={"to": to})


async def balance(conn: ChainConnection, address: str) -> int:
    return int(await rpc.call_ok(conn, "eth_getBalance", [address, "latest"]), 16)


async def nonce_of(conn: ChainConnection, address: str, tag: str = "latest") -> int:
    return int(await rpc.call_ok(conn, "eth_getTransactionCount", [address, tag]), 16)


async def rows(sm: async_sessionmaker[AsyncSession]) -> list[OutboxTx]:
    async with sm() as s:
        return list((await s.execute(select(OutboxTx).order_by(OutboxTx.id))).scalars())


@BACKENDS
async def test_transfers_are_signed_sent_mined_and_confirmed(sm, anvil_conn) -> None:
    signer = await funded_signer(anvil_conn)
    start = await nonce_of(anvil_conn, signer.address)
    targets = [fresh_address() for _ in range(3)]
    for i, to in enumerate(targets):
        await enqueue_transfer(sm, f"t-{i}", to, 10**15 + i)
    await drain(make_sender(sm, anvil_conn, signer))
    for i, to in enumerate(targets):
        assert await balance(anvil_conn, to) == 10**15 + i
    got = await rows(sm)
    assert [r.status for r in got] == [OutboxStatus.CONFIRMED] * 3
    assert [r.nonce for r in got] == [start, start + 1, start + 2]
    for r in got:
        rcpt = await rpc.call_ok(anvil_conn, "eth_getTransactionReceipt", [r.tx_hash])
        assert rcpt["blockHash"] == r.block_hash and int(rcpt["blockNumber"], 16) == r.block_number
        assert r.receipt_status == 1 and r.attempt_count == 1
        assert r.signed_at and r.broadcast_at and r.mined_at and r.confirmed_at
    assert await nonce_of(anvil_conn, signer.address) == start + 3


@BACKENDS
async def test_fifty_concurrent_enqueues_get_contiguous_nonces(sm, anvil_conn) -> None:
    signer = await funded_signer(anvil_conn)
    start = await nonce_of(anvil_conn, signer.address)
    targets = [fresh_address() for _ in range(50)]
    await asyncio.gather(*(enqueue_transfer(sm, f"c-{i}", to, 1000 + i) for i, to in enumerate(targets)))
    await drain(make_sender(sm, anvil_conn, signer))
    got = await rows(sm)
    assert len(got) == 50
    assert all(r.status is OutboxStatus.CONFIRMED for r in got)
    assert sorted(r.nonce for r in got if r.nonce is not None) == list(range(start, start + 50))
    assert await nonce_of(anvil_conn, signer.address) == start + 50
    balances = await asyncio.gather(*(balance(anvil_conn, to) for to in targets))
    assert balances == [1000 + i for i in range(50)]


@BACKENDS
async def test_two_senders_at_once_never_share_a_nonce(sm, anvil_conn) -> None:
    signer = await funded_signer(anvil_conn)
    start = await nonce_of(anvil_conn, signer.address)
    targets = [fresh_address() for _ in range(24)]
    a = make_sender(sm, anvil_conn, signer, batch_size=5)
    b = make_sender(sm, anvil_conn, signer, batch_size=5)
    # rows keep arriving while both senders run, so both really allocate in the same moments
    for wave in range(4):
        for i, to in enumerate(targets[wave * 6 : (wave + 1) * 6]):
            await enqueue_transfer(sm, f"two-{wave}-{i}", to, 7 + wave)
        await asyncio.gather(a.run_once(), b.run_once())
    for _ in range(50):
        pa, pb = await asyncio.gather(a.run_once(), b.run_once())
        if not pa and not pb and pa.in_flight == 0:
            break
    got = await rows(sm)
    assert all(r.status is OutboxStatus.CONFIRMED for r in got), [(r.id, r.status, r.last_error) for r in got]
    nonces = [r.nonce for r in got]
    assert len(set(nonces)) == 24
    assert sorted(n for n in nonces if n is not None) == list(range(start, start + 24))
    async with sm() as s:
        attempts = (await s.execute(select(func.count()).select_from(OutboxAttempt))).scalar_one()
    assert attempts == 24  # nobody signed a row twice
    assert await nonce_of(anvil_conn, signer.address) == start + 24
    for wave in range(4):
        for to in targets[wave * 6 : (wave + 1) * 6]:
            assert await balance(anvil_conn, to) == 7 + wave


@BACKENDS
async def test_revert_at_estimate_fails_the_row_and_takes_no_nonce(sm, anvil_conn) -> None:
    signer = await funded_signer(anvil_conn)
    start = await nonce_of(anvil_conn, signer.address)
    reverter = fresh_address()
    await rpc.call_ok(anvil_conn, "anvil_setCode", [reverter, REVERTER_CODE])
    async with sm() as s, s.begin():
        await enqueue(s, kind="call", to=reverter, data=b"\x12\x34", idempotency_key="bad", args={})
    sender = make_sender(sm, anvil_conn, signer)
    progress = await sender.run_once()
    assert progress.failed == 1 and progress.signed == 0
    async with sm() as s:
        bad = await get_by_key(s, "bad")
    assert bad is not None and bad.status is OutboxStatus.FAILED
    assert bad.nonce is None and bad.failed_at is not None
    assert bad.last_error is not None and "revert" in bad.last_error
    to = fresh_address()
    await enqueue_transfer(sm, "good", to, 5)
    await drain(sender)
    async with sm() as s:
        good = await get_by_key(s, "good")
    assert good is not None and good.status is OutboxStatus.CONFIRMED
    assert good.nonce == start  # the failed row consumed nothing
    assert await balance(anvil_conn, to) == 5


async def test_confirmations_wait_for_depth(anvil_conn, database_url) -> None:
    engine = db.make_engine(database_url)
    sm_ = db.make_sessionmaker(engine)
    try:
        signer = await funded_signer(anvil_conn)
        await enqueue_transfer(sm_, "deep", fresh_address(), 1)
        sender = make_sender(sm_, anvil_conn, signer, confirmations=3)
        for _ in range(5):  # broadcast, then seen mined (a loaded anvil may answer the receipt a pass later)
            await sender.run_once()
            async with sm_() as s:
                row = await get_by_key(s, "deep")
            if row is not None and row.status is not OutboxStatus.BROADCAST:
                break
        for _ in range(2):
            async with sm_() as s:
                row = await get_by_key(s, "deep")
            assert row is not None and row.status is OutboxStatus.MINED
            await rpc.call_ok(anvil_conn, "evm_mine", [])
            await sender.run_once()
        async with sm_() as s:
            row = await get_by_key(s, "deep")
        assert row is not None and row.status is OutboxStatus.CONFIRMED
        head = int(await rpc.call_ok(anvil_conn, "eth_blockNumber", []), 16)
        assert row.block_number is not None and head - row.block_number + 1 >= 3
    finally:
        await engine.dispose()


@pytest.fixture
async def own_anvil_conn(request) -> AsyncIterator[ChainConnection]:
    node = Anvil(no_mining=getattr(request, "param", False))
    await node.__aenter__()
    conn = await connect(node.url)
    try:
        yield conn
    finally:
        await conn.close()
        await node.__aexit__()


@pytest.mark.parametrize("own_anvil_conn", [True], indirect=True)
async def test_stuck_tx_is_replaced_with_higher_fees_and_the_mined_hash_wins(own_anvil_conn, sm) -> None:
    conn = own_anvil_conn
    signer = await funded_signer(conn)
    to = fresh_address()
    await enqueue_transfer(sm, "stuck", to, 12345)
    sender = make_sender(sm, conn, signer, replace_after=3600.0)
    await sender.run_once()
    async with sm() as s:
        first = (await s.execute(select(OutboxAttempt))).scalars().one()
    assert await rpc.call_ok(conn, "eth_getTransactionReceipt", [first.tx_hash]) is None
    sender.replace_after = 0.0
    progress = await sender.run_once()
    assert progress.replaced == 1
    async with sm() as s:
        attempts = list((await s.execute(select(OutboxAttempt).order_by(OutboxAttempt.id))).scalars())
        row = await get_by_key(s, "stuck")
    assert len(attempts) == 2 and row is not None and row.attempt_count == 2
    old, new = attempts
    assert new.nonce == old.nonce
    assert new.max_fee_per_gas * 8 >= old.max_fee_per_gas * 9
    assert new.max_priority_fee_per_gas * 8 >= old.max_priority_fee_per_gas * 9
    # the node took the replacement: it is in the pool, the original is gone
    pool = await rpc.call_ok(conn, "txpool_content", [])
    pooled = {tx["hash"] for by_nonce in pool["pending"].values() for tx in by_nonce.values()}
    assert new.tx_hash in pooled and old.tx_hash not in pooled
    await rpc.call_ok(conn, "evm_mine", [])
    sender.replace_after = 3600.0
    await drain(sender)
    async with sm() as s:
        row = await get_by_key(s, "stuck")
    assert row is not None and row.status is OutboxStatus.CONFIRMED
    assert row.tx_hash == new.tx_hash
    block = await rpc.call_ok(conn, "eth_getBlockByNumber", [hex(row.block_number or 0), False])
    assert block["transactions"] == [new.tx_hash]
    assert await balance(conn, to) == 12345
    assert await nonce_of(conn, signer.address) == 1


@pytest.mark.parametrize("own_anvil_conn", [False], indirect=True)
async def test_reorg_unconfirms_then_rebroadcasts_and_reconfirms(own_anvil_conn, sm) -> None:
    conn = own_anvil_conn
    signer = await funded_signer(conn)
    to = fresh_address()
    await enqueue_transfer(sm, "reorged", to, 777)
    sender = make_sender(sm, conn, signer, confirmations=1)
    await drain(sender)
    async with sm() as s:
        row = await get_by_key(s, "reorged")
    assert row is not None and row.status is OutboxStatus.CONFIRMED
    old_hash, old_number = row.block_hash, row.block_number
    # anvil 1.7.1: anvil_reorg(depth, txs) replaces the last `depth` blocks with new ones holding `txs`
    # (here none); the removed transactions are dropped, not returned to the pool.
    await rpc.call_ok(conn, "anvil_reorg", [1, []])
    assert await rpc.call_ok(conn, "eth_getTransactionReceipt", [row.tx_hash]) is None
    assert await balance(conn, to) == 0
    progress: Progress = await sender.run_once()
    assert progress.reorged == 1
    async with sm() as s:
        row = await get_by_key(s, "reorged")
    assert row is not None and row.status is OutboxStatus.BROADCAST and row.confirmed_at is None
    await drain(sender)
    async with sm() as s:
        row = await get_by_key(s, "reorged")
    assert row is not None and row.status is OutboxStatus.CONFIRMED
    assert row.block_hash != old_hash and row.block_number == (old_number or 0) + 1
    assert await balance(conn, to) == 777  # the same signed bytes, once
    assert await nonce_of(conn, signer.address) == 1


async def test_nonce_taken_by_a_foreign_tx_requeues_the_row_once(anvil_conn, database_url) -> None:
    """Someone else used our signed nonce before we sent it: our bytes can never be mined, so the row is
    signed again with a new nonce (after a second sighting) and the payee is paid exactly once."""
    engine = db.make_engine(database_url)
    sm_ = db.make_sessionmaker(engine)
    try:
        conn = anvil_conn
        signer = await funded_signer(conn)
        start = await nonce_of(conn, signer.address)
        payee, other = fresh_address(), fresh_address()
        await enqueue_transfer(sm_, "victim", payee, 99)
        sender = make_sender(sm_, conn, signer, foreign_nonce_grace=0.0)
        await sender._sign_pending(Progress())  # signed and stored at nonce `start`, not sent
        foreign = signer.sign(
            TxRequest(
                chain_id=conn.chain_id,
                nonce=start,
                to=other,
                data=b"",
                value=1,
                gas=21000,
                max_fee_per_gas=100 * GWEI,
                max_priority_fee_per_gas=GWEI,
            )
        )
        await rpc.call_ok(conn, "eth_sendRawTransaction", ["0x" + foreign.raw.hex()])
        first = await sender.run_once()  # "nonce too low" counts as sent; first sighting only
        assert first.requeued == 0
        await drain(sender)
        async with sm_() as s:
            row = await get_by_key(s, "victim")
            n_attempts = (await s.execute(select(func.count()).select_from(OutboxAttempt))).scalar_one()
        assert row is not None and row.status is OutboxStatus.CONFIRMED
        assert row.nonce == start + 1 and n_attempts == 2
        assert await balance(conn, payee) == 99 and await balance(conn, other) == 1
    finally:
        await engine.dispose()


async def test_chain_nonce_ahead_of_the_outbox_moves_it_forward(anvil_conn, sm) -> None:
    conn = anvil_conn
    signer = await funded_signer(conn)
    await enqueue_transfer(sm, "first", fresh_address(), 1)
    sender = make_sender(sm, conn, signer)
    await drain(sender)
    start = await nonce_of(conn, signer.address)
    for i in range(2):  # the same key used outside the outbox
        other = signer.sign(
            TxRequest(
                chain_id=conn.chain_id,
                nonce=start + i,
                to=fresh_address(),
                data=b"",
                value=1,
                gas=21000,
                max_fee_per_gas=100 * GWEI,
                max_priority_fee_per_gas=GWEI,
            )
        )
        await rpc.call_ok(conn, "eth_sendRawTransaction", ["0x" + other.raw.hex()])
    await enqueue_transfer(sm, "second", fresh_address(), 1)
    await drain(sender)
    async with sm() as s:
        row = await get_by_key(s, "second")
    assert row is not None and row.status is OutboxStatus.CONFIRMED and row.nonce == start + 2


async def test_run_forever_serves_until_stopped(anvil_conn, sm) -> None:
    signer = await funded_signer(anvil_conn)
    sender = make_sender(sm, anvil_conn, signer)
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run_forever(stop))
    try:
        to = fresh_address()
        await enqueue_transfer(sm, "forever", to, 4242)
        row = await wait_confirmed(sm, "forever", 30)
        assert row.status is OutboxStatus.CONFIRMED
        assert await balance(anvil_conn, to) == 4242
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
