"""Balance-scan benchmark (issue 12): one monitoring tick over 10,000 wallets + 10,000 open leases on anvil.

Per tick every wallet's credit (``balanceOf``) and native balance and every lease's escrow view
(``lease(id)``: balance, rate, settled time) are read — 30,000 reads — three ways, plus the engine's whole
tick:

* **engine read** — :func:`engine.monitoring.services.read_state` + the runway arithmetic (what the job
  does before touching the database): the head block, then JSON-RPC batches of 1,000 calls, 4 in flight
  (the :class:`chain.jsonrpc.RpcClient` of a :class:`chain.reads.BatchReader`);
* **engine full tick** — :func:`engine.monitoring.commands.scan_balances`: the read above, plus loading the
  watched accounts from SQLite, storing 10,000 snapshots and the downsampling pass;
* **naive web3.py** — what a competent engineer writes without batching: web3.py contract calls and
  ``get_balance``, ``asyncio.gather`` with 64 requests in flight (one HTTP request per read). At about
  200 reads/s it would take minutes per tick, so it reads the first ``--naive`` (300) wallets and
  leases; the table compares per-read rates;
* **raw JSON-RPC batches** — the limit: hand-built JSON, 1,000 calls per POST, 4 POSTs in flight,
  hex to int, nothing else.

"% of limit" compares per-read rates with the raw batches (for the full tick it includes the database
work, which the limit does not do). Each method runs on the same state (a block is mined between full
ticks only, so each stores a fresh sample), interleaved, ``--rounds`` rounds (3); the table gives the
median and the range. The set-up (10,000 real leases: pre-signed ``open`` transactions sent in raw
batches, see ``bench/lease_market.py``) is timed too. About 2.5 minutes in all.

    python bench/balance_scan.py [--wallets 10000] [--naive 300] [--rounds 3]
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
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402

from bench._report import ratio, spread, table, write_section  # noqa: E402
from bench.lease_market import OpenedLease, ensure_node, open_leases, seed_database  # noqa: E402
from chain.contracts import CreditTokenClient, EscrowClient  # noqa: E402
from chain.devchain import Anvil, rpc  # noqa: E402
from engine.monitoring.commands import scan_balances  # noqa: E402
from engine.monitoring.services import account_runway, read_state, watched_accounts  # noqa: E402
from engine.runtime import Runtime, start_runtime  # noqa: E402
from engine.settings import Settings  # noqa: E402

Reading = tuple[
    list[int], list[int], list[tuple[int, int, int]]
]  # credits, natives, (balance, rate, settled)


async def engine_read(rt: Runtime, addrs: list[str], lease_ids: list[int]) -> Reading:
    state = await read_state(rt.chain, rt.context.contracts, addrs, lease_ids)
    for i, lease in enumerate(state.leases):  # the runway arithmetic the job does per account
        account_runway(i, state.timestamp, state.credits[i], [(i, lease)])
    return (
        [int(c) for c in state.credits],
        state.natives,
        [(x.balance, x.rate_per_second, x.settled_at) for x in state.leases],
    )


async def naive_web3(rt: Runtime, addrs: list[str], lease_ids: list[int], in_flight: int = 64) -> Reading:
    w3: Any = rt.chain.w3
    token = w3.eth.contract(address=rt.manifest.address("CreditToken"), abi=CreditTokenClient.artifact_abi())
    escrow = w3.eth.contract(address=rt.manifest.address("DeploymentEscrow"), abi=EscrowClient.artifact_abi())
    block = await w3.eth.block_number
    limit = asyncio.Semaphore(in_flight)

    async def bounded(coro: Awaitable[Any]) -> Any:
        async with limit:
            return await coro

    credits, natives, leases = await asyncio.gather(
        asyncio.gather(*(bounded(token.functions.balanceOf(a).call(block_identifier=block)) for a in addrs)),
        asyncio.gather(*(bounded(w3.eth.get_balance(a, block)) for a in addrs)),
        asyncio.gather(*(bounded(escrow.functions.lease(i).call(block_identifier=block)) for i in lease_ids)),
    )
    return (
        [int(c) for c in credits],
        [int(n) for n in natives],
        [(int(v[2]), int(v[3]), int(v[4])) for v in leases],
    )


async def raw_batches(
    url: str,
    token: str,
    escrow: str,
    lease_sel: str,
    addrs: list[str],
    lease_ids: list[int],
    chunk: int = 1000,
) -> Reading:
    """The limit: hand-built JSON, one POST per chunk, 4 in flight, hex to int (``lease_sel``: the 0x
    selector of ``lease(uint256)``; its struct is read as balance, rate, settled time at words 2-4)."""
    balance_of = "0x70a08231" + "0" * 24
    calls = (
        [("eth_call", [{"to": token, "data": balance_of + a[2:]}, "latest"]) for a in addrs]
        + [("eth_getBalance", [a, "latest"]) for a in addrs]
        + [("eth_call", [{"to": escrow, "data": lease_sel + f"{i:064x}"}, "latest"]) for i in lease_ids]
    )
    limit = asyncio.Semaphore(4)
    async with aiohttp.ClientSession() as session:

        async def post(start: int) -> list[str]:
            body = json.dumps(
                [
                    {"jsonrpc": "2.0", "id": start + k, "method": m, "params": p}
                    for k, (m, p) in enumerate(calls[start : start + chunk])
                ]
            )
            async with limit, session.post(url, data=body, headers={"Content-Type": "application/json"}) as r:
                return [item["result"] for item in sorted(await r.json(), key=lambda item: item["id"])]

        parts = await asyncio.gather(*(post(s) for s in range(0, len(calls), chunk)))
    results = [x for part in parts for x in part]
    n = len(addrs)
    credits = [int(x, 16) for x in results[:n]]
    natives = [int(x, 16) for x in results[n : 2 * n]]
    leases = [(int(x[130:194], 16), int(x[194:258], 16), int(x[258:322], 16)) for x in results[2 * n :]]
    return credits, natives, leases


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wallets", type=int, default=10_000, help="wallets, one open lease each")
    parser.add_argument(
        "--naive", type=int, default=300, help="wallets the naive loop reads (per-read rates compare)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    n = args.wallets
    with tempfile.TemporaryDirectory() as tmp, Anvil() as anvil:
        settings = Settings(
            data_dir=Path(tmp),
            database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}",
            chain_url=anvil.url,
            scheduler_enabled=False,
        )
        rt = await start_runtime(settings, spawn_dev_chain=False)
        try:
            t0 = time.perf_counter()
            node = await ensure_node(rt.chain, rt.manifest, rt.signer)
            key = settings.signer_private_key()
            assert key is not None
            opened: list[OpenedLease] = await open_leases(
                rt.chain, rt.manifest, rt.signer, node, count=n, quote_key=key
            )
            t_chain = time.perf_counter() - t0
            await seed_database(rt.sessionmaker, opened, node)
            t_setup = time.perf_counter() - t0
            print(
                f"set-up: {n:,} wallets + {n:,} open leases on anvil in {t_chain:.1f} s "
                f"(+ database rows: {t_setup:.1f} s in all)"
            )
            async with rt.sessionmaker() as s:
                accounts = await watched_accounts(s)
            addrs = [a for acc in accounts for a in acc.addresses]
            lease_ids = [lid for acc in accounts for _, lid in acc.leases]
            assert len(addrs) == n and len(lease_ids) == n
            naive_addrs, naive_leases = addrs[: args.naive], lease_ids[: args.naive]
            token, escrow = rt.manifest.address("CreditToken"), rt.manifest.address("DeploymentEscrow")
            lease_sel = "0x" + rt.context.contracts.require_escrow().function("lease", 1).selector.hex()
            expected = await raw_batches(anvil.url, token, escrow, lease_sel, addrs, lease_ids)

            async def full_tick() -> None:
                result = await scan_balances(rt.context)
                assert result.stored == n, result.stored

            methods: list[tuple[str, int, Callable[[], Awaitable[Any]]]] = [
                (
                    "raw JSON-RPC batches (the limit)",
                    n,
                    lambda: raw_batches(anvil.url, token, escrow, lease_sel, addrs, lease_ids),
                ),
                ("engine read (JSON-RPC batches)", n, lambda: engine_read(rt, addrs, lease_ids)),
                (
                    "naive web3.py (gather, 64 in flight)",
                    args.naive,
                    lambda: naive_web3(rt, naive_addrs, naive_leases),
                ),
                ("engine full tick (read+runway+store)", n, full_tick),
            ]
            times: dict[str, list[float]] = {label: [] for label, _, _ in methods}
            for _ in range(args.rounds):
                for label, size, fn in methods:
                    if label.startswith("engine full tick"):
                        await rpc(rt.chain, "evm_increaseTime", hex(60))
                        await rpc(rt.chain, "evm_mine")
                    start = time.perf_counter()
                    got = await fn()
                    times[label].append(time.perf_counter() - start)
                    if got is not None:
                        c, nat, ls = got
                        assert c == expected[0][:size] and ls == expected[2][:size], f"{label}: wrong values"
                        assert nat == expected[1][:size], f"{label}: wrong native balances"
        finally:
            await rt.close()
    limit_rates = [3 * n / t for t in times[methods[0][0]]]
    rows = []
    for label, size, _ in methods:
        rates = [3 * size / t for t in times[label]]
        rows.append(
            [label, f"{3 * size:,}", spread(times[label], "{:.3f}"), spread(rates), ratio(rates, limit_rates)]
        )
    write_section(
        "balance_scan",
        f"Balance scan: one monitoring tick, {n:,} wallets + {n:,} open leases ({3 * n:,} reads) on anvil",
        table(["method", "reads", "seconds", "reads/s", "reads/s vs the limit"], rows)
        + f"""

Set-up: {n:,} wallets + {n:,} open leases in {t_chain:.1f} s on anvil ({t_setup:.1f} s with the database
rows). The reads change nothing, so every method reads the same state of one anvil (a block is mined
before each full tick, which stores a fresh sample); {args.rounds} rounds interleaved; median (min-max);
the ratio is per round against the raw batches of the same round. The naive loop reads {args.naive:,}
wallets + leases (per-read rates compare); the full tick includes the SQLite work the limit does not do.""",
    )


if __name__ == "__main__":
    asyncio.run(main())
