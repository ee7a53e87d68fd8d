"""Indexer catch-up throughput (issue 15 §3): events/s into SQLite and PostgreSQL beside a raw
``eth_getLogs`` loop (the floor: same ranges and filter, logs fetched and counted, no decoding, no database).

Each side runs on its OWN fresh anvil holding the same N ``mint``s (2 events each: ``Transfer`` and
``CreditMinted``), sent as one batch of pre-signed raw transactions with automine off and then mined; the
indexer registers the runtime's contracts and subscribers (``engine.runtime.INDEXED_CONTRACTS``; the
registry and alliance subscribers find nothing of theirs in mints). PostgreSQL is a throwaway cluster
(``tests/support/postgres.py``), a fresh database per round. 3 rounds, interleaved; median (min-max).

Run: ``.venv/bin/python bench/indexer.py [N]`` (default 5,000 mints). Writes ``bench/results/indexer.md``.
No assertions on timings.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench._report import interleaved, ratio, spread, table, write_section  # noqa: E402
from chain import jsonrpc as rpc  # noqa: E402
from chain.connect import ChainConnection, connect  # noqa: E402
from chain.contracts import CreditTokenClient  # noqa: E402
from chain.deploy import Manifest, deploy_suite, suggest_fees  # noqa: E402
from chain.devchain import Anvil, dev_signer_key  # noqa: E402
from chain.signer import LocalSigner, TxRequest  # noqa: E402
from engine import db  # noqa: E402
from engine.alliances.events import AllianceSubscriber  # noqa: E402
from engine.indexer.indexer import EventIndexer  # noqa: E402
from engine.providers.subscriber import MarketplaceSubscriber  # noqa: E402
from engine.runtime import INDEXED_CONTRACTS  # noqa: E402
from tests.support.postgres import PgCluster, start_cluster  # noqa: E402

WORK = Path(tempfile.mkdtemp(prefix="bench-indexer-"))


class Mints:
    """N mints signed once; valid on every fresh anvil (same deployer, nonces and suite addresses)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.raws: list[str] = []
        self.token: str | None = None

    async def load(self, conn: ChainConnection, signer: LocalSigner, manifest: Manifest) -> None:
        token = CreditTokenClient(conn.w3, manifest.address("CreditToken"))
        w3: Any = conn.w3
        nonce = int(await w3.eth.get_transaction_count(signer.address, "pending"))
        if self.token != token.address or not self.raws:
            max_fee, tip = await suggest_fees(conn)
            max_fee *= 4  # the later anvils start from the same base fee; headroom for the batch's blocks
            self.token = token.address
            self.raws = [
                "0x"
                + signer.sign(
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
                ).raw.hex()
                for i in range(self.count)
            ]
        await rpc.call_ok(conn, "evm_setAutomine", [False])
        answers = await rpc.batch(conn, [("eth_sendRawTransaction", [raw]) for raw in self.raws])
        refused = [a.message for a in answers if not a.ok]
        if refused:
            raise RuntimeError(f"{len(refused)} mints refused, e.g. {refused[0]}")
        while True:  # mine until the pool is empty (blocks fill up to the gas limit)
            status = await rpc.call_ok(conn, "txpool_status", [])
            if int(status["pending"], 16) == 0 and int(status["queued"], 16) == 0:
                break
            await rpc.call_ok(conn, "evm_mine", [])
        await rpc.call_ok(conn, "evm_setAutomine", [True])


async def fresh_chain(mints: Mints, tag: str) -> tuple[Anvil, ChainConnection, Manifest]:
    node = await Anvil().start_async()
    conn = await connect(node.url)
    signer = LocalSigner(dev_signer_key(conn))
    manifest = await deploy_suite(conn, signer, manifest_dir=WORK / tag)
    await mints.load(conn, signer, manifest)
    return node, conn, manifest


def indexer_for(sessionmaker: Any, conn: ChainConnection, manifest: Manifest) -> EventIndexer:
    idx = EventIndexer(
        sessionmaker,
        conn,
        manifest,
        [name for name in INDEXED_CONTRACTS if name in manifest.contracts],
        confirmations=1,
    )
    idx.on_events(MarketplaceSubscriber(sessionmaker, conn))
    idx.on_events(AllianceSubscriber(sessionmaker))
    return idx


def ours(
    mints: Mints, database: Callable[[int], Awaitable[str]], counter: list[int]
) -> Callable[[], Awaitable[float]]:
    async def run() -> float:
        counter[0] += 1
        node, conn, manifest = await fresh_chain(mints, f"db{counter[0]}")
        try:
            url = await database(counter[0])
            await db.upgrade(url)
            engine = db.make_engine(url)
            try:
                idx = indexer_for(db.make_sessionmaker(engine), conn, manifest)
                started = time.perf_counter()
                progress = await idx.run_once()
                took = time.perf_counter() - started
            finally:
                await engine.dispose()
            assert progress.caught_up and progress.events >= 2 * mints.count, progress  # + the deployment's
            return progress.events / took
        finally:
            await conn.close()
            node.stop()

    return run


def floor(mints: Mints) -> Callable[[], Awaitable[float]]:
    async def run() -> float:
        node, conn, manifest = await fresh_chain(mints, "floor")
        try:
            idx = indexer_for(None, conn, manifest)
            head = int(await rpc.call_ok(conn, "eth_blockNumber", []), 16)
            found = 0
            started = time.perf_counter()
            for start in range(idx.start_block, head + 1, idx.batch_blocks):
                end = min(start + idx.batch_blocks - 1, head)
                found += len(
                    await rpc.call_ok(conn, "eth_getLogs", [idx.catalog.log_filter(start, end)]) or []
                )
            took = time.perf_counter() - started
            assert found >= 2 * mints.count, found
            return found / took
        finally:
            await conn.close()
            node.stop()

    return run


async def main(count: int) -> None:
    mints = Mints(count)
    cluster: PgCluster = await asyncio.to_thread(start_cluster)
    try:

        async def sqlite(n: int) -> str:
            return f"sqlite+aiosqlite:///{WORK}/round{n}.db"

        async def postgres(n: int) -> str:
            return await asyncio.to_thread(cluster.createdb, f"bench{n}")

        counter = [0]
        results = await interleaved(
            {
                "ours, SQLite": ours(mints, sqlite, counter),
                "ours, PostgreSQL": ours(mints, postgres, counter),
                "raw eth_getLogs loop (floor)": floor(mints),
            }
        )
    finally:
        cluster.stop()
        shutil.rmtree(WORK, ignore_errors=True)
    limit = results["raw eth_getLogs loop (floor)"]
    rows = [
        [name, spread(values), "100 %" if values is limit else ratio(values, limit)]
        for name, values in results.items()
    ]
    body = table(["side", "events/s", "share of floor"], rows)
    body += (
        f"\n\n{count:,} mints ({2 * count:,} events) indexed from block 0 by one `run_once` (ranges of 2,000 "
        "blocks) on a fresh anvil per side and round; 3 rounds interleaved, median (min-max); the share is "
        "the median of same-round ratios. The floor fetches the same ranges with the same filter and only "
        "counts the logs. The first SQLite round also pays the process's one-time SQLAlchemy set-up (mapper "
        "configuration, statement compilation). Machine and load: the RESULTS.md header."
    )
    write_section("indexer", "Indexer catch-up: events/s beside the raw eth_getLogs floor", body)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000))
