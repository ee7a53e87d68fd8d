"""Chain write throughput: the outbox sender vs naive web3.py vs the raw-send physical limit.

For ``n`` (default 1,000) ETH transfers against anvil (automine):

1. **outbox sender** — ``n`` rows enqueued on a SQLite file in a temp dir (one transaction, timed apart),
   then :class:`OutboxSender` passes until every row is confirmed (confirmations=1). It batches: estimates,
   sends and receipt polls are JSON-RPC batches; a whole batch of rows is signed and stored per DB
   transaction.
2. **naive web3.py** — ``w3.eth.send_transaction`` one by one, waiting for each receipt.
3. **raw limit** — ``n`` transactions signed beforehand, sent as JSON-RPC batches of
   ``eth_sendRawTransaction``, until the last receipt exists. Nothing can be faster on this node.

Every side of every round runs on its OWN fresh anvil (issue 15 §5: on a shared anvil the limit varied
0.24-1.89 s with what ran before it, and the outbox once "beat" it by 51 %), interleaved (limit, outbox,
naive, limit, ...), ``ROUNDS`` rounds; the table shows median (min-max) and the per-round ratio to the limit.

    python bench/sender_io.py [n] [n_naive]      # writes bench/results/sender_io.md
"""

from __future__ import annotations

import asyncio
import functools
import secrets
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from eth_account import Account  # noqa: E402
from web3 import AsyncWeb3  # noqa: E402
from web3.providers.rpc import AsyncHTTPProvider  # noqa: E402
from web3.types import Wei  # noqa: E402

from bench._report import ROUNDS, interleaved, ratio, spread, table, write_section  # noqa: E402
from chain import jsonrpc as rpc  # noqa: E402
from chain.connect import ChainConnection, connect  # noqa: E402
from chain.devchain import Anvil  # noqa: E402
from chain.signer import LocalSigner, TxRequest  # noqa: E402
from engine import db  # noqa: E402
from engine.outbox.sender import OutboxSender  # noqa: E402
from engine.outbox.services import enqueue  # noqa: E402

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


async def _on_fresh_anvil(run: Callable[[str, ChainConnection], Awaitable[float]]) -> float:
    async with Anvil() as node:
        conn = await connect(node.url)
        try:
            return await run(node.url, conn)
        finally:
            await conn.close()


async def bench_sender(n: int = 1000, n_naive: int = 200, rounds: int = ROUNDS) -> str:
    """The markdown table: each side on its own fresh anvil, interleaved, ``rounds`` rounds."""

    async def limit(url: str, conn: ChainConnection) -> float:
        return float((await _raw_limit(conn, n))["seconds"])

    async def outbox(url: str, conn: ChainConnection) -> float:
        return float((await _outbox(conn, n))[0]["seconds"])

    async def naive(url: str, conn: ChainConnection) -> float:
        return float((await _naive(url, conn, n_naive))["seconds"])

    sides = {
        "raw limit (pre-signed, JSON-RPC batches)": limit,
        "outbox sender (sign+store+send+confirm)": outbox,
        "naive web3.py send_transaction + wait receipt": naive,
    }
    seconds = await interleaved(
        {name: functools.partial(_on_fresh_anvil, run) for name, run in sides.items()}, rounds
    )
    lim = seconds["raw limit (pre-signed, JSON-RPC batches)"]
    rows = []
    for name, secs in seconds.items():
        count = n_naive if name.startswith("naive") else n
        rates = [count / x for x in secs]
        rows.append(
            [name, f"{count:,}", spread(secs, "{:.2f}"), spread(rates), ratio(rates, [n / x for x in lim])]
        )
    return table(["way", "transfers", "seconds", "tx/s", "tx/s vs the raw limit"], rows)


async def _main(n: int, n_naive: int) -> None:
    body = await bench_sender(n, n_naive)
    write_section(
        "sender_io",
        f"Chain writes: {n:,} ETH transfers on anvil (automine), outbox sender vs naive vs raw limit",
        f"""{body}

Each side of each round on its own fresh anvil, {ROUNDS} rounds interleaved; median (min-max). The outbox
figure excludes the enqueue (one DB transaction for all rows). The naive loop sends {n_naive:,}
transfers (one at a time, minutes for all {n:,}): compare tx/s. Ratios: tx/s of that round over the raw
limit's tx/s in the same round.""",
    )


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    asyncio.run(_main(args[0] if args else 1000, args[1] if len(args) > 1 else 200))
