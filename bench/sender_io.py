"""Chain write throughput, part (b): the outbox sender vs naive web3.py vs the raw-send physical limit.

For ``n`` (default 1,000) ETH transfers against anvil (automine):

1. **outbox sender** — ``n`` rows enqueued on a SQLite file in a temp dir (one transaction, timed apart),
   then :class:`OutboxSender` passes until every row is confirmed (confirmations=1). It batches: estimates,
   sends and receipt polls are JSON-RPC batches; a whole batch of rows is signed and stored per DB
   transaction.
2. **naive web3.py** — ``w3.eth.send_transaction`` one by one, waiting for each receipt.
3. **raw limit** — ``n`` transactions signed beforehand, sent as JSON-RPC batches of
   ``eth_sendRawTransaction``, until the last receipt exists. Nothing can be faster on this node.

Each scenario uses its own fresh funded account. ``ratio_vs_limit`` = limit seconds / scenario seconds.
``python bench/sender_io.py [n]`` starts its own anvil and prints the table.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from eth_account import Account
from web3 import AsyncWeb3
from web3.providers.rpc import AsyncHTTPProvider
from web3.types import Wei

from chain import jsonrpc as rpc
from chain.connect import ChainConnection, connect
from chain.devchain import Anvil
from chain.signer import LocalSigner, TxRequest
from engine import db
from engine.outbox.sender import OutboxSender
from engine.outbox.services import enqueue

GWEI = 10**9
ETH = 10**18


async def _funded(conn: ChainConnection) -> LocalSigner:
    signer = LocalSigner("0x" + secrets.token_hex(32))
    await rpc.call_ok(conn, "anvil_setBalance", [signer.address, hex(10_000 * ETH)])
    return signer


def _row(name: str, seconds: float, n: int) -> dict[str, Any]:
    return {"name": name, "seconds": seconds, "tx_per_s": n / seconds if seconds else float("inf")}


async def _raw_limit(conn: ChainConnection, n: int) -> dict[str, Any]:
    signer = await _funded(conn)
    nonce = int(await rpc.call_ok(conn, "eth_getTransactionCount", [signer.address, "pending"]), 16)
    to = str(Account.create().address)
    raws = [
        signer.sign(
            TxRequest(
                chain_id=conn.chain_id,
                nonce=nonce + i,
                to=to,
                data=b"",
                value=1,
                gas=21000,
                max_fee_per_gas=100 * GWEI,
                max_priority_fee_per_gas=GWEI,
            )
        )
        for i in range(n)
    ]
    t0 = time.perf_counter()
    results = await rpc.batch(conn, [("eth_sendRawTransaction", ["0x" + s.raw.hex()]) for s in raws])
    # polling is the measurement itself: anvil offers no push for receipts over HTTP
    while await rpc.call_ok(conn, "eth_getTransactionReceipt", [raws[-1].hash]) is None:  # noqa: ASYNC110
        await asyncio.sleep(0.001)
    seconds = time.perf_counter() - t0
    assert all(r.ok for r in results), [r.message for r in results if not r.ok][:3]
    return _row("raw limit (pre-signed, JSON-RPC batch)", seconds, n)


async def _naive(url: str, conn: ChainConnection, n: int) -> dict[str, Any]:
    sender = str(Account.create().address)
    await rpc.call_ok(conn, "anvil_setBalance", [sender, hex(10_000 * ETH)])
    await rpc.call_ok(conn, "anvil_impersonateAccount", [sender])
    w3 = AsyncWeb3(AsyncHTTPProvider(url))
    to = str(Account.create().address)
    t0 = time.perf_counter()
    for _ in range(n):
        tx_hash = await w3.eth.send_transaction({"from": sender, "to": to, "value": Wei(1)})
        await w3.eth.wait_for_transaction_receipt(tx_hash, poll_latency=0.01)
    seconds = time.perf_counter() - t0
    await w3.provider.disconnect()
    await rpc.call_ok(conn, "anvil_stopImpersonatingAccount", [sender])
    return _row("naive web3.py send_transaction + wait receipt", seconds, n)


async def _outbox(conn: ChainConnection, n: int) -> list[dict[str, Any]]:
    signer = await _funded(conn)
    targets = [str(Account.create().address) for _ in range(n)]
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        await db.upgrade(url)
        engine = db.make_engine(url)
        sm = db.make_sessionmaker(engine)
        try:
            t0 = time.perf_counter()
            async with sm() as s, s.begin():
                for i, to in enumerate(targets):
                    await enqueue(
                        s, kind="transfer", to=to, data=b"", value=1, idempotency_key=f"b-{i}", args={}
                    )
            enqueued = time.perf_counter() - t0
            sender = OutboxSender(
                sm,
                conn,
                signer,
                confirmations=1,
                replace_after=3600.0,
                max_fee_cap=500 * GWEI,
                poll_interval=0.0,
            )
            t1 = time.perf_counter()
            for _ in range(10_000):
                progress = await sender.run_once()
                if not progress and progress.in_flight == 0:
                    break
                if not progress:
                    await asyncio.sleep(0.002)  # let anvil mine instead of spinning on the 2nd core
            sent = time.perf_counter() - t1
        finally:
            await engine.dispose()
    balances = await rpc.batch(conn, [("eth_getBalance", [t, "latest"]) for t in targets])
    assert all(int(b.result, 16) == 1 for b in balances), "every target paid exactly once"
    return [
        _row("outbox sender (sign+store+send+confirm)", sent, n),
        _row("outbox enqueue (1 DB tx) + sender", enqueued + sent, n),
    ]


async def bench_sender(anvil_url: str, n: int = 1000) -> list[dict[str, Any]]:
    """Rows ``{"name", "seconds", "tx_per_s", "ratio_vs_limit"}``; the limit row has ratio 1.0."""
    conn = await connect(anvil_url)
    try:
        limit = await _raw_limit(conn, n)
        rows = [*(await _outbox(conn, n)), await _naive(anvil_url, conn, n), limit]
    finally:
        await conn.close()
    for r in rows:
        r["ratio_vs_limit"] = limit["seconds"] / r["seconds"]
    return rows


def _print(rows: list[dict[str, Any]]) -> None:
    print(f"{'scenario':50} {'seconds':>9} {'tx/s':>9} {'vs limit':>9}")
    for r in rows:
        print(f"{r['name']:50} {r['seconds']:9.3f} {r['tx_per_s']:9.0f} {r['ratio_vs_limit']:9.2f}")


async def _main(n: int) -> None:
    async with Anvil() as node:
        _print(await bench_sender(node.url, n))


if __name__ == "__main__":
    asyncio.run(_main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
