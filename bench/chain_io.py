"""Chain I/O benchmark: reading 10,000 ERC-20 balances from a local anvil, three ways.

(a) reads: a naive web3.py loop (one ``eth_call`` per request), our :class:`chain.reads.BatchReader`,
web3.py 8's ``batch_requests``, ``BatchReader`` in multicall mode, and raw JSON-RPC batches over aiohttp
(the physical limit: minimal code, no validation). Ratios are against the raw limit.
(b) sending: if ``bench/sender_io.py`` defines ``async def bench_sender(anvil_url) -> list[row]`` its rows
are printed in the same table (a row is ``(label, ops, seconds)`` or a dict with those keys).

    python bench/chain_io.py [--reads-only] [--accounts 10000] [--naive 10000]

Balances are written straight into the token's storage with ``anvil_setStorageAt`` (one JSON-RPC batch),
so set-up takes a second, not 10,000 transactions.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
from eth_utils import keccak, to_checksum_address  # noqa: E402

from chain.connect import ChainConnection, connect  # noqa: E402
from chain.contracts import CreditTokenClient  # noqa: E402
from chain.deploy import Manifest, deploy_suite, send_transaction  # noqa: E402
from chain.devchain import Anvil, dev_signer_key  # noqa: E402
from chain.jsonrpc import RpcClient  # noqa: E402
from chain.reads import BatchReader  # noqa: E402
from chain.signer import LocalSigner  # noqa: E402

Row = tuple[str, int, float]


def accounts(n: int) -> list[str]:
    return [to_checksum_address(keccak(n.to_bytes(8, "big") + i.to_bytes(8, "big"))[-20:]) for i in range(n)]


def mapping_slot(key_address: str, slot: int) -> bytes:
    return keccak(bytes(12) + bytes.fromhex(key_address[2:]) + slot.to_bytes(32, "big"))


async def find_balances_slot(conn: ChainConnection, token: CreditTokenClient, holder: str) -> int:
    """The storage slot of the ERC-20 balances mapping, found by probing a holder with a known balance."""
    balance = await token.balance_of(holder)
    assert balance > 0
    for slot in range(32):
        raw = await conn.w3.eth.get_storage_at(token.address, mapping_slot(holder, slot))
        if int.from_bytes(raw, "big") == balance:
            return slot
    raise RuntimeError("balances mapping slot not found")


async def fund(conn: ChainConnection, manifest: Manifest, signer: LocalSigner, addrs: list[str]) -> list[int]:
    token = CreditTokenClient(conn.w3, manifest.address("CreditToken"))
    await send_transaction(
        conn, signer, to=token.address, data=token.encode_mint(signer.address, 1, b"\x01" * 32)
    )
    slot = await find_balances_slot(conn, token, signer.address)
    amounts = [1_000_000 + i for i in range(len(addrs))]
    async with RpcClient(conn.url) as client:
        answers = await client.batch(
            [
                (
                    "anvil_setStorageAt",
                    [token.address, "0x" + mapping_slot(a, slot).hex(), "0x" + v.to_bytes(32, "big").hex()],
                )
                for a, v in zip(addrs, amounts, strict=True)
            ]
        )
    assert all(a.result is True for a in answers), [a.message for a in answers[:3]]
    assert await token.balance_of(addrs[-1]) == amounts[-1]
    return amounts


# ---- the ways to read --------------------------------------------------------------------------


async def naive_web3(conn: ChainConnection, token_address: str, addrs: list[str]) -> list[int]:
    token = conn.w3.eth.contract(address=token_address, abi=CreditTokenClient.artifact_abi())
    return [int(await token.functions.balanceOf(a).call()) for a in addrs]


async def web3_batch(
    conn: ChainConnection, token_address: str, addrs: list[str], chunk: int = 1000
) -> list[int]:
    token = conn.w3.eth.contract(address=token_address, abi=CreditTokenClient.artifact_abi())
    out: list[int] = []
    for start in range(0, len(addrs), chunk):
        async with conn.w3.batch_requests() as batch:
            for a in addrs[start : start + chunk]:
                batch.add(token.functions.balanceOf(a))
            out += [int(x) for x in await batch.async_execute()]
    return out


async def raw_batches(
    url: str, token_address: str, addrs: list[str], chunk: int = 1000, concurrency: int = 4
) -> list[int]:
    """The floor: hand-built JSON, one POST per chunk, a few in flight, hex to int."""
    prefix = "0x70a08231" + "0" * 24
    bodies = [
        json.dumps(
            [
                {
                    "jsonrpc": "2.0",
                    "id": i,
                    "method": "eth_call",
                    "params": [{"to": token_address, "data": prefix + a[2:]}, "latest"],
                }
                for i, a in enumerate(addrs[s : s + chunk])
            ]
        )
        for s in range(0, len(addrs), chunk)
    ]
    limit = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession() as session:

        async def post(body: str) -> list[int]:
            async with limit, session.post(url, data=body, headers={"Content-Type": "application/json"}) as r:
                items = sorted(await r.json(), key=lambda item: item["id"])
                return [int(item["result"], 16) for item in items]

        parts = await asyncio.gather(*(post(b) for b in bodies))
    return [v for part in parts for v in part]


async def timed(
    label: str, n: int, fn: Callable[[], Awaitable[list[int]]], expected: list[int], repeat: int
) -> Row:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        got = await fn()
        best = min(best, time.perf_counter() - start)
        if got != expected[:n]:
            raise AssertionError(f"{label}: wrong balances")
    return (label, n, best)


async def bench_reads(anvil: Anvil, n_accounts: int, n_naive: int, repeat: int) -> list[Row]:
    conn = await connect(anvil.url)
    try:
        signer = LocalSigner(dev_signer_key(conn))
        with tempfile.TemporaryDirectory() as tmp:
            manifest = await deploy_suite(conn, signer, manifest_dir=Path(tmp))
        addrs = accounts(n_accounts)
        amounts = await fund(conn, manifest, signer, addrs)
        token, multicall = manifest.address("CreditToken"), manifest.address("Multicall")
        rows: list[Row] = [
            await timed(
                "raw JSON-RPC batch (aiohttp)",
                n_accounts,
                lambda: raw_batches(anvil.url, token, addrs),
                amounts,
                repeat,
            )
        ]
        async with BatchReader(conn, multicall) as reader:
            rows.append(
                await timed(
                    "BatchReader (rpc-batch)",
                    n_accounts,
                    lambda: reader.token_balances(token, addrs),
                    amounts,
                    repeat,
                )
            )
        async with BatchReader(conn, multicall, transport="multicall") as reader:
            rows.append(
                await timed(
                    "BatchReader (multicall)",
                    n_accounts,
                    lambda: reader.token_balances(token, addrs),
                    amounts,
                    repeat,
                )
            )
        rows.append(
            await timed("web3 batch_requests", n_accounts, lambda: web3_batch(conn, token, addrs), amounts, 1)
        )
        rows.append(
            await timed(
                "naive web3 loop", n_naive, lambda: naive_web3(conn, token, addrs[:n_naive]), amounts, 1
            )
        )
        return rows
    finally:
        await conn.close()


def sender_rows_fn() -> Callable[[str], Awaitable[list[Any]]] | None:
    try:
        module = importlib.import_module("bench.sender_io")
    except ModuleNotFoundError as exc:
        if exc.name not in ("bench.sender_io", "bench"):
            raise
        return None
    return getattr(module, "bench_sender", None)


def as_row(item: Any) -> tuple[str, int, float, float | None]:
    """A sender row: ``(label, ops, seconds)`` or a dict (``name``, ``seconds``, ``tx_per_s``,
    ``ratio_vs_limit``, optionally ``ops``) -> ``(label, ops, seconds, ratio vs its own limit)``."""
    if isinstance(item, dict):
        seconds = float(item.get("seconds") or 0.0)
        ops = item.get("ops") or item.get("n") or round(float(item.get("tx_per_s") or 0.0) * seconds)
        ratio = item.get("ratio_vs_limit")
        return (
            str(item.get("name") or item.get("label") or "?"),
            int(ops),
            seconds,
            None if ratio is None else float(ratio),
        )
    label, ops, seconds = item[:3]
    return (str(label), int(ops), float(seconds), None)


def print_table(title: str, rows: list[tuple[str, int, float, float | None]]) -> None:
    print(f"\n{title}")
    print(f"{'method':<46} {'ops':>7} {'seconds':>9} {'ops/s':>10} {'vs raw':>8}")
    for label, ops, seconds, ratio in rows:
        rate = ops / seconds if seconds > 0 else float("inf")
        shown = "-" if ratio is None else f"{ratio:.1%}"
        print(f"{label:<46} {ops:>7} {seconds:>9.3f} {rate:>10.0f} {shown:>8}")


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reads-only", action="store_true", help="skip section (b), the sender benchmark")
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--naive", type=int, default=None, help="reads for the naive loop (default: all)")
    parser.add_argument("--repeat", type=int, default=3, help="best of N for the batched ways")
    args = parser.parse_args(argv)
    n_naive = min(args.naive or args.accounts, args.accounts)
    async with Anvil() as anvil:
        rows = await bench_reads(anvil, args.accounts, n_naive, args.repeat)
        raw_rate = rows[0][1] / rows[0][2]
        print_table(
            f"(a) reading {args.accounts} ERC-20 balances from anvil (ratio: reads/s vs raw batches)",
            [(label, ops, sec, ops / sec / raw_rate) for label, ops, sec in rows],
        )
        if not args.reads_only:
            bench_sender = sender_rows_fn()
            if bench_sender is None:
                print("\n(b) sending: bench/sender_io.py with bench_sender() not present - skipped")
            else:
                print_table(
                    "(b) sending transactions (ratio: vs pre-signed raw batch limit)",
                    [as_row(r) for r in await bench_sender(anvil.url)],
                )


if __name__ == "__main__":
    asyncio.run(main())
