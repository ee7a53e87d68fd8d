"""Indexer throughput: N mints on a fresh anvil, indexed into SQLite with one range vs. ranges of 10 blocks.

Run: ``.venv/bin/python bench/indexer.py [N]``. Prints events/s for each; no assertions.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from chain import jsonrpc as rpc
from chain.connect import connect
from chain.contracts import CreditTokenClient
from chain.deploy import deploy_suite, suggest_fees
from chain.devchain import Anvil, dev_signer_key
from chain.signer import LocalSigner, TxRequest
from engine import db
from engine.indexer.indexer import EventIndexer


async def main(count: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-indexer-"))
    with Anvil() as node:
        conn = await connect(node.url)
        signer = LocalSigner(dev_signer_key(conn))
        manifest = await deploy_suite(conn, signer, manifest_dir=work)
        token = CreditTokenClient(conn.w3, manifest.address("CreditToken"))
        nonce = int(await conn.w3.eth.get_transaction_count(signer.address, "pending"))
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
        await conn.w3.eth.wait_for_transaction_receipt(raws[-1].hash, poll_latency=0.02)
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
            print(
                f"batch_blocks={batch_blocks:5d}: {progress.events} events in {len(progress.ranges)} ranges, "
                f"{took:.2f}s, {progress.events / took:.0f} events/s"
            )
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 500))
