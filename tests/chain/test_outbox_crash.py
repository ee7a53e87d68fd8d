"""Exactly once across real crashes: the sender runs as its own process and dies by ``os._exit(137)`` at a
failpoint, then a fresh process (no failpoint) finishes the job. The chain is the judge: a plain ETH
transfer to a fresh address (which the chain would happily accept twice) arrives once, the signer's nonce
moved by exactly the number of rows, and a CreditToken mint with a ref happened once.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from pathlib import Path

import pytest
from eth_account import Account
from sqlalchemy import select

from chain import jsonrpc as rpc
from chain.connect import ChainConnection
from chain.contracts import CreditTokenClient
from chain.deploy import deploy_suite
from chain.signer import LocalSigner
from engine import db
from engine.failpoints import ENV_VAR
from engine.outbox.models import OutboxAttempt, OutboxStatus, OutboxTx
from engine.outbox.services import enqueue

pytestmark = [pytest.mark.anvil, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
ETH = 10**18
KEY_ENV = "CM_TEST_OUTBOX_KEY"


async def run_sender(database_url: str, chain_url: str, key: str, failpoint: str | None) -> int:
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    env[KEY_ENV] = key
    if failpoint:
        env[ENV_VAR] = failpoint
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "engine.outbox",
        "--database-url",
        database_url,
        "--chain-url",
        chain_url,
        "--signer-key-env",
        KEY_ENV,
        "--once",
        "--until-idle",
        "--poll-interval",
        "0.02",
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), timeout=90)
    assert proc.returncode is not None
    if proc.returncode not in (0, 137):
        raise AssertionError(err.decode()[-2000:])
    return proc.returncode


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
@pytest.mark.parametrize("point", ["outbox.after_sign_commit", "outbox.after_broadcast"])
async def test_crash_then_restart_gives_exactly_one_effect(
    point, database_url, anvil, anvil_conn, tmp_path
) -> None:
    conn: ChainConnection = anvil_conn
    key = "0x" + secrets.token_hex(32)
    signer = LocalSigner(key)
    await rpc.call_ok(conn, "anvil_setBalance", [signer.address, hex(100 * ETH)])
    manifest = await deploy_suite(conn, signer, manifest_dir=tmp_path / "m", minters=[signer.address])
    token = CreditTokenClient(conn.w3, manifest.address("CreditToken"))
    start = int(await rpc.call_ok(conn, "eth_getTransactionCount", [signer.address, "latest"]), 16)
    payee, holder = str(Account.create().address), str(Account.create().address)
    ref = secrets.token_bytes(32)
    supply_before = await token.total_supply()

    engine = db.make_engine(database_url)
    sm = db.make_sessionmaker(engine)
    try:
        async with sm() as s, s.begin():
            await enqueue(
                s, kind="transfer", to=payee, data=b"", value=31337, idempotency_key="pay", args={"to": payee}
            )
            await enqueue(
                s,
                kind="credit.mint",
                to=token.address,
                data=token.encode_mint(holder, 5_000_000, ref),
                idempotency_key="mint",
                args={"to": holder, "amount": 5_000_000, "ref": ref.hex()},
            )

        assert await run_sender(database_url, anvil.url, key, point) == 137
        async with sm() as s:
            crashed = list((await s.execute(select(OutboxTx).order_by(OutboxTx.id))).scalars())
            stored = list((await s.execute(select(OutboxAttempt))).scalars())
        # died after the commit: both rows hold a nonce and stored signed bytes, neither got further
        assert [r.status for r in crashed] == [OutboxStatus.SIGNED] * 2
        assert [r.nonce for r in crashed] == [start, start + 1] and len(stored) == 2
        on_chain = await balance(conn, payee)
        assert on_chain == (0 if point == "outbox.after_sign_commit" else 31337)

        assert await run_sender(database_url, anvil.url, key, None) == 0
        async with sm() as s:
            done = list((await s.execute(select(OutboxTx).order_by(OutboxTx.id))).scalars())
            after = {a.tx_hash for a in (await s.execute(select(OutboxAttempt))).scalars()}
        assert [r.status for r in done] == [OutboxStatus.CONFIRMED] * 2
        assert after == {a.tx_hash for a in stored}  # the restart re-sent the same bytes, signed nothing new
    finally:
        await engine.dispose()
    assert await balance(conn, payee) == 31337
    assert (
        int(await rpc.call_ok(conn, "eth_getTransactionCount", [signer.address, "latest"]), 16) == start + 2
    )
    assert await token.balance_of(holder) == 5_000_000
    assert await token.total_supply() == supply_before + 5_000_000
    assert await token.ref_used(ref)


async def balance(conn: ChainConnection, address: str) -> int:
    return int(await rpc.call_ok(conn, "eth_getBalance", [address, "latest"]), 16)
