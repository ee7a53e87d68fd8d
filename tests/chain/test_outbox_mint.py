"""Outbox rows that call CreditToken.mint: revert data is decoded into the row's error, at estimate time
(no nonce used) and for a transaction that was mined with status 0 (replayed with eth_call)."""

from __future__ import annotations

import secrets

import pytest
from eth_account import Account
from sqlalchemy import select

from chain import jsonrpc as rpc
from chain.contracts import CreditTokenClient
from chain.deploy import deploy_suite
from chain.signer import LocalSigner
from engine import db
from engine.outbox.models import OutboxStatus, OutboxTx
from engine.outbox.sender import OutboxSender
from engine.outbox.services import enqueue

pytestmark = pytest.mark.anvil


@pytest.fixture
async def setup(anvil_conn, database_url, tmp_path):
    signer = LocalSigner("0x" + secrets.token_hex(32))
    await rpc.call_ok(anvil_conn, "anvil_setBalance", [signer.address, hex(10**20)])
    manifest = await deploy_suite(anvil_conn, signer, manifest_dir=tmp_path / "m", minters=[signer.address])
    token = CreditTokenClient(anvil_conn.w3, manifest.address("CreditToken"))
    engine = db.make_engine(database_url)
    sm = db.make_sessionmaker(engine)
    sender = OutboxSender(
        sm, anvil_conn, signer, confirmations=1, replace_after=3600, max_fee_cap=10**12, poll_interval=0.05
    )
    yield sm, sender, token, signer
    await engine.dispose()


async def mint_row(sm, token, key: str, holder: str, ref: bytes) -> None:
    async with sm() as s, s.begin():
        await enqueue(
            s,
            kind="credit.mint",
            to=token.address,
            data=token.encode_mint(holder, 10, ref),
            idempotency_key=key,
            args={"ref": ref.hex()},
        )


async def drain(sender) -> None:
    for _ in range(50):
        p = await sender.run_once()
        if not p and p.in_flight == 0:
            return
    raise AssertionError("not idle")


async def test_reused_ref_reverts_at_estimate_with_decoded_error(setup, anvil_conn) -> None:
    sm, sender, token, signer = setup
    holder, ref = str(Account.create().address), secrets.token_bytes(32)
    await mint_row(sm, token, "m1", holder, ref)
    await drain(sender)
    nonce_after_first = int(
        await rpc.call_ok(anvil_conn, "eth_getTransactionCount", [signer.address, "latest"]), 16
    )
    await mint_row(sm, token, "m2", holder, ref)
    await drain(sender)
    async with sm() as s:
        m1, m2 = (await s.execute(select(OutboxTx).order_by(OutboxTx.id))).scalars().all()
    assert m1.status is OutboxStatus.CONFIRMED
    assert m2.status is OutboxStatus.FAILED and m2.nonce is None and m2.receipt_status is None
    assert m2.last_error is not None and "RefAlreadyUsed" in m2.last_error
    assert (
        int(await rpc.call_ok(anvil_conn, "eth_getTransactionCount", [signer.address, "latest"]), 16)
        == nonce_after_first
    )
    assert await token.balance_of(holder) == 10


async def test_mined_with_status_zero_is_failed_with_replayed_reason(setup, anvil_conn) -> None:
    sm, sender, token, _signer = setup
    holder, ref = str(Account.create().address), secrets.token_bytes(32)
    # both estimates pass (neither is mined yet); the second one mined reverts on chain
    await mint_row(sm, token, "a", holder, ref)
    await mint_row(sm, token, "b", holder, ref)
    await drain(sender)
    async with sm() as s:
        a, b = (await s.execute(select(OutboxTx).order_by(OutboxTx.id))).scalars().all()
    assert a.status is OutboxStatus.CONFIRMED and a.receipt_status == 1
    assert b.status is OutboxStatus.FAILED and b.receipt_status == 0 and b.block_hash is not None
    assert b.nonce == (a.nonce or 0) + 1
    assert b.last_error is not None and "RefAlreadyUsed" in b.last_error
    assert await token.balance_of(holder) == 10
