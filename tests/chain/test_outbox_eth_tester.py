"""The same outbox sender code path on the in-process eth-tester chain (no JSON-RPC transport)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from eth_account import Account
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chain.connect import ChainConnection, connect
from chain.contracts import CreditTokenClient
from chain.deploy import deploy_suite
from chain.signer import LocalSigner
from engine import db
from engine.outbox.models import OutboxStatus
from engine.outbox.sender import OutboxSender
from engine.outbox.services import enqueue, get_by_key

# eth-tester funds the accounts of private keys 1, 2, ...: key 1 is 0x7E5F…5Bdf.
TESTER_KEY = "0x" + "00" * 31 + "01"


@pytest.fixture
async def conn() -> AsyncIterator[ChainConnection]:
    c = await connect("eth-tester://")
    yield c
    await c.close()


@pytest.fixture
async def sm(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = db.make_engine(database_url)
    yield db.make_sessionmaker(engine)
    await engine.dispose()


async def test_transfer_and_mint_confirm_on_eth_tester(conn, sm, tmp_path):
    signer = LocalSigner(TESTER_KEY)
    manifest = await deploy_suite(conn, signer, manifest_dir=tmp_path)
    token = CreditTokenClient(conn.w3, manifest.address("CreditToken"))
    payee = str(Account.create().address)
    ref = b"\x11" * 32
    async with sm() as s, s.begin():
        await enqueue(s, kind="transfer", to=payee, data=b"", value=12345, idempotency_key="t1", args={})
        await enqueue(
            s,
            kind="mint",
            to=token.address,
            data=token.encode_mint(payee, 7_000_000, ref),
            idempotency_key="m1",
            args={},
        )
        # the same business key again: no second row, no second effect
        await enqueue(
            s,
            kind="mint",
            to=token.address,
            data=token.encode_mint(payee, 7_000_000, ref),
            idempotency_key="m1",
            args={},
        )
    sender = OutboxSender(
        sm, conn, signer, confirmations=1, replace_after=3600, max_fee_cap=500 * 10**9, poll_interval=0.01
    )
    for _ in range(20):
        await sender.run_once()
        async with sm() as s:
            rows = [await get_by_key(s, "t1"), await get_by_key(s, "m1")]
        if all(r is not None and r.status == OutboxStatus.CONFIRMED for r in rows):
            break
    assert [r.status for r in rows if r] == [OutboxStatus.CONFIRMED, OutboxStatus.CONFIRMED]
    assert await conn.w3.eth.get_balance(payee) == 12345
    assert await token.balance_of(payee) == 7_000_000
    assert await token.ref_used(ref)
