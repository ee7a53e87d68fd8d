"""Chain I/O benchmark: reading 10,000 ERC-20 balances from a local anvil, five ways.

A naive web3.py loop (one ``eth_call`` per request), our :class:`chain.reads.BatchReader` (JSON-RPC
batches, and multicall mode), web3.py 8's ``batch_requests``, and raw JSON-RPC batches over aiohttp (the
physical limit: minimal code, no validation). Reads change nothing, so every way reads the same state of
one anvil; the ways run interleaved (limit, ours, ..., limit, ...), ``ROUNDS`` rounds, and every answer is
checked. Ratios are per round against the raw limit of the same round. Writes (the outbox sender) are
``bench/sender_io.py``, each side on its own fresh anvil.

    python bench/chain_io.py [--accounts 10000] [--naive 1000]     # writes bench/results/chain_io.md

Balances are written straight into the token's storage with ``anvil_setStorageAt`` (one JSON-RPC batch),
so set-up takes a second, not 10,000 transactions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
from eth_utils import keccak, to_checksum_address  # noqa: E402

from bench._report import ROUNDS, interleaved, ratio, spread, table, write_section  # noqa: E402
from chain.connect import ChainConnection, connect  # noqa: E402
from chain.contracts import CreditTokenClient  # noqa: E402
from chain.deploy import Manifest, deploy_suite, send_transaction  # noqa: E402
from chain.devchain import Anvil, dev_signer_key  # noqa: E402
from chain.jsonrpc import RpcClient  # noqa: E402
from chain.reads import BatchReader  # noqa: E402
from chain.signer import LocalSigner  # noqa: E402


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


async def checked(label: str, n: int, fn: Callable[[], Awaitable[list[int]]], expected: list[int]) -> float:
    """Reads per second of one call of ``fn`` (its answer checked)."""
    start = time.perf_counter()
    got = await fn()
    seconds = time.perf_counter() - start
    if got != expected[:n]:
        raise AssertionError(f"{label}: wrong balances")
    return n / seconds


async def bench_reads(
    anvil: Anvil, n_accounts: int, n_naive: int
) -> tuple[dict[str, int], dict[str, list[float]]]:
    conn = await connect(anvil.url)
    try:
        signer = LocalSigner(dev_signer_key(conn))
        with tempfile.TemporaryDirectory() as tmp:
            manifest = await deploy_suite(conn, signer, manifest_dir=Path(tmp))
        addrs = accounts(n_accounts)
        amounts = await fund(conn, manifest, signer, addrs)
        token, multicall = manifest.address("CreditToken"), manifest.address("Multicall")
        async with (
            BatchReader(conn, multicall) as batches,
            BatchReader(conn, multicall, transport="multicall") as multi,
        ):
            ways: dict[str, tuple[int, Callable[[], Awaitable[list[int]]]]] = {
                LIMIT: (n_accounts, lambda: raw_batches(anvil.url, token, addrs)),
                "BatchReader (rpc-batch)": (n_accounts, lambda: batches.token_balances(token, addrs)),
                "BatchReader (multicall)": (n_accounts, lambda: multi.token_balances(token, addrs)),
                "web3 batch_requests": (n_naive, lambda: web3_batch(conn, token, addrs[:n_naive])),
                "naive web3 loop": (n_naive, lambda: naive_web3(conn, token, addrs[:n_naive])),
            }

            def side(label: str) -> Callable[[], Awaitable[float]]:
                n, fn = ways[label]
                return lambda: checked(label, n, fn, amounts)

            rates = await interleaved({label: side(label) for label in ways})
        return {label: n for label, (n, _) in ways.items()}, rates
    finally:
        await conn.close()


LIMIT = "raw JSON-RPC batches, aiohttp (the limit)"


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument(
        "--naive", type=int, default=1_000, help="reads per call of the two web3.py ways (rates compare)"
    )
    args = parser.parse_args(argv)
    n_naive = min(args.naive, args.accounts)
    async with Anvil() as anvil:
        sizes, rates = await bench_reads(anvil, args.accounts, n_naive)
    rows = [[label, f"{sizes[label]:,}", spread(r), ratio(r, rates[LIMIT])] for label, r in rates.items()]
    write_section(
        "chain_io",
        f"Chain reads: {args.accounts:,} ERC-20 balances from anvil",
        table(["way", "reads per call", "reads/s", "reads/s vs the limit"], rows)
        + f"""

One anvil, the same state for every way (reads change nothing), {ROUNDS} rounds interleaved, every answer
checked; median (min-max); ratios per round against the limit of the same round. The two web3.py ways
read {n_naive:,} balances per call (tens of reads per second: the whole set would take minutes per call);
per-read rates compare.""",
    )


if __name__ == "__main__":
    asyncio.run(main())
