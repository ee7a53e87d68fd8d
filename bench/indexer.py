"""Indexer catch-up throughput: N mints on a fresh anvil, indexed into SQLite with one range vs. ranges of
10 blocks, each beside a raw ``eth_getLogs`` loop over the same ranges and filter (no decoding, no
database): the gap is what decoding, block-hash checks and storing cost.

Run: ``.venv/bin/python bench/indexer.py [N]``. Prints events/s for each; no assertions.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from chain import jsonrpc as rpc
from chain.connect import ChainConnection, connect
from chain.contracts import CreditTokenClient
from chain.deploy import deploy_suite, suggest_fees
from chain.devchain import Anvil, dev_signer_key
from chain.signer import LocalSigner, TxRequest
from engine import db
from engine.indexer.indexer import EventIndexer


async def raw_get_logs(conn: ChainConnection, idx: EventIndexer, head: int) -> tuple[int, float]:
    """The same ranges and filter as the indexer, one ``eth_getLogs`` each: logs counted, nothing else."""
    found = 0
    started = time.perf_counter()
    for start in range(idx.start_block, head + 1, idx.batch_blocks):
        end = min(start + idx.batch_blocks - 1, head)
        found += len(await rpc.call_ok(conn, "eth_getLogs", [idx.catalog.log_filter(start, end)]) or [])
    return found, time.perf_counter() - started


async def main(count: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-indexer-"))
    with Anvil() as node:
        conn = await connect(node.url)
        signer = LocalSigner(dev_signer_key(conn))
        manifest = await deploy_suite(conn, signer, manifest_dir=work)
        token = CreditTokenClient(conn.w3, manifest.address("CreditToken"))
        w3: Any = conn.w3
        nonce = int(await w3.eth.get_transaction_count(signer.address, "pending"))
        max_fee, tip = await suggest_fees(conn)
        raws = [
            signer.sign(
                TxRequest(
                    conn.chain_id,
                    nonce + i,
                    token.address,
                    token.encode_mint("0x" + f"{i + 1:040x}", i + 1, (i + 1).to_bytes(32, "big")),
                    0,
                    150_000,
                    max_fee,
                    tip,
                )
            )
            for i in range(count)
        ]
        await rpc.batch(conn, [("eth_sendRawTransaction", ["0x" + s.raw.hex()]) for s in raws])
        await w3.eth.wait_for_transaction_receipt(raws[-1].hash, poll_latency=0.02)
        for batch_blocks in (2000, 10):
            url = f"sqlite+aiosqlite:///{work}/b{batch_blocks}.db"
            await db.upgrade(url)
            engine = db.make_engine(url)
            idx = EventIndexer(
                db.make_sessionmaker(engine),
                conn,
                manifest,
                ["CreditToken"],
                confirmations=1,
                batch_blocks=batch_blocks,
            )
            started = time.perf_counter()
            progress = await idx.run_once()
            took = time.perf_counter() - started
            await engine.dispose()
            raw, raw_took = await raw_get_logs(conn, idx, progress.head)
            print(
                f"batch_blocks={batch_blocks:5d}: {progress.events} events in {len(progress.ranges)} ranges, "
                f"{took:.2f}s, {progress.events / took:.0f} events/s; raw eth_getLogs loop: {raw} logs, "
                f"{raw_took:.2f}s, {raw / raw_took:.0f} logs/s (indexer at {raw_took / took:.0%} of raw)"
            )
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 500))
