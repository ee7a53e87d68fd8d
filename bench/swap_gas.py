"""Gas of swap + lease top-up through the SwapTopUp adapter vs the plain Uniswap V2 router (issue 12).

Every figure is the ``gasUsed`` of a FULL transaction's receipt on anvil (21,000 intrinsic + calldata +
execution, after the EIP-3529 refund), each sent on its own, on the dev chain's real contracts: the suite
(``chain.deploy``), Uniswap V2 from the npm artifacts and the adapter (``chain.devswap``). The swap is
100 tUSD -> credit through the seeded 1:1 pool (one hop).

States (the payer's side; pools always hold reserves):

* best — the payer keeps a standing unlimited approval (no allowance write) and holds credit already;
* typical — what ``POST /api/wallet/swap`` hands out: an ``approve`` of exactly ``amount_in`` before each
  swap, consumed by it (allowance x -> 0); balances non-zero;
* first use — a payer's first swap (its credit balance 0 -> x for the router / ``swapToCredit``) through an
  adapter that has never swapped this token (its router approval 0 -> max).

Every adapter holds the unit of dust of each token that ``chain.devswap`` gives it at deployment, so its own
balances go 1 -> 1 + x -> 1 inside a swap, never 0 -> x -> 0.

The approve transactions are not counted (both paths need one). ``swapAndTopUp`` is compared with the
router swap alone and with what it replaces: the router swap plus a separate ``topUp`` transaction.

    python bench/swap_gas.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_utils.crypto import keccak

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._report import ROUNDS, ratio, spread, table, write_section
from chain.artifacts import load_artifact
from chain.connect import ChainConnection, connect
from chain.contracts import CreditTokenClient, EscrowClient, RegistryClient
from chain.deploy import deploy_suite, send_transaction
from chain.devchain import ANVIL_ACCOUNT0_KEY, Anvil, rpc
from chain.devswap import StablecoinClient, ensure_devswap, seed_adapter_dust
from chain.quotes import Quoter
from chain.signer import LocalSigner
from chain.uniswap import MAX_UINT256, RouterClient, SwapTopUpClient
from engine.relay.signing import NO_PERMIT, read_domain
from engine.swaps.relay import input_permit, sign_swap_request

AMOUNT = 100 * 10**6
DEPOSIT = 50 * 10**6
RATE = 1_000
STATES = ("best", "typical", "first use")


@dataclass
class World:
    conn: ChainConnection
    signer: LocalSigner
    token: CreditTokenClient
    escrow: EscrowClient
    stable: StablecoinClient
    router: RouterClient
    adapter_args: tuple[str, str]
    weth: str
    quoter: Quoter
    node: int
    refs: int = 0
    keys: dict[str, str] = field(default_factory=dict)  # payer address -> private key (to sign requests)

    async def send(self, who: LocalSigner, to: str, data: bytes) -> int:
        receipt = await send_transaction(self.conn, who, to=to, data=data)
        return int(receipt["gasUsed"])

    async def measured(self, who: LocalSigner, to: str, data: bytes) -> int:
        """``send`` in a block 12 s after the previous one: a pool last touched in an earlier block (the
        live-chain case) writes its cumulative prices; in the same second it would skip ~10k of writes."""
        await rpc(self.conn, "evm_increaseTime", hex(12))
        return await self.send(who, to, data)

    async def mint(self, to: str, amount: int) -> None:
        self.refs += 1
        ref = keccak(text=f"swap-gas:{self.refs}:{to}")
        await self.send(self.signer, self.token.address, self.token.encode_mint(to, amount, ref))

    async def fresh_adapter(self) -> SwapTopUpClient:
        artifact = load_artifact("SwapTopUp")
        data = artifact.bytecode + abi_encode(["address", "address"], list(self.adapter_args))
        receipt = await send_transaction(self.conn, self.signer, to=None, data=data)
        address = receipt["contractAddress"]
        # as chain.devswap deploys it: one unit of each token kept for good (balances never 0 -> x -> 0)
        await seed_adapter_dust(
            self.conn, self.signer, address, self.token.address, self.stable.address, self.weth
        )
        return SwapTopUpClient(self.conn.w3, address)

    async def payer(self, *, credit_after_open: int) -> tuple[LocalSigner, int]:
        """A fresh payer with ETH, an open lease, ``credit_after_open`` credit left and 10x AMOUNT tUSD."""
        key = Account.create().key.hex()
        who = LocalSigner(key)
        self.keys[who.address] = key
        await rpc(self.conn, "anvil_setBalance", who.address, hex(10**19))
        await self.mint(who.address, DEPOSIT + credit_after_open)
        spec = b"\x42" * 32
        now = int((await self.conn.w3.eth.get_block("latest"))["timestamp"])
        quote = self.quoter.sign(self.quoter.quote(who.address, self.node, RATE, spec, now=now))
        await self.send(who, self.token.address, self.token.encode_approve(self.escrow.address, MAX_UINT256))
        await self.send(
            who, self.escrow.address, self.escrow.encode_open(self.node, RATE, DEPOSIT, spec, quote)
        )
        lease = int(who.address, 16) << 64 | await self.escrow.lease_count()
        await self.send(who, self.stable.address, self.stable.encode_mint(who.address, 10 * AMOUNT))
        return who, lease

    async def deadline(self) -> int:
        return int((await self.conn.w3.eth.get_block("latest"))["timestamp"]) + 600


async def setup(conn: ChainConnection, signer: LocalSigner, workdir: Path) -> World:
    quoter_key = keccak(text="swap-gas quoter")
    quoter_address = Account.from_key(quoter_key).address
    manifest = await deploy_suite(conn, signer, manifest_dir=workdir, quote_signer=quoter_address)
    manifest = await ensure_devswap(conn, signer, manifest, workdir)
    token = CreditTokenClient(conn.w3, manifest.address("CreditToken"))
    escrow = EscrowClient(conn.w3, manifest.address("DeploymentEscrow"))
    registry = RegistryClient(conn.w3, manifest.address("ProviderRegistry"))
    world = World(
        conn,
        signer,
        token,
        escrow,
        StablecoinClient(conn.w3, manifest.address("TestStablecoin")),
        RouterClient(conn.w3, manifest.address("UniswapV2Router02")),
        (manifest.address("UniswapV2Router02"), escrow.address),
        manifest.address("WETH9"),
        Quoter(quoter_key, conn.chain_id, escrow.address, 3_600),
        node=0,
    )
    provider = LocalSigner(Account.create().key.hex())
    await rpc(conn, "anvil_setBalance", provider.address, hex(10**19))
    collateral = 1_000 * 10**6
    await world.mint(provider.address, collateral)
    await world.send(provider, token.address, token.encode_approve(registry.address, collateral))
    await world.send(provider, registry.address, registry.encode_register(collateral))
    await world.send(signer, registry.address, registry.encode_approve_provider(provider.address))
    await world.send(provider, registry.address, registry.encode_add_node())
    world.node = 1  # a fresh registry's first node
    return world


async def measure(conn: ChainConnection, signer: LocalSigner, workdir: Path) -> dict[str, dict[str, int]]:
    """Operation -> state -> gasUsed (see the module docstring)."""
    w = await setup(conn, signer, workdir)
    path = [w.stable.address, w.token.address]
    ops = ("router", "swapToCredit", "swapAndTopUp", "topUp", "swapAndTopUpWithPermit (relayed)")
    out: dict[str, dict[str, int]] = {op: {} for op in ops}

    async def approve(who: LocalSigner, token: Any, spender: str, amount: int) -> None:
        await w.send(who, token.address, token.encode_approve(spender, amount))

    async def router_swap(who: LocalSigner) -> int:
        data = w.router.encode_swap_exact_tokens_for_tokens(AMOUNT, 1, path, who.address, await w.deadline())
        return await w.measured(who, w.router.address, data)

    # first use: fresh payers (credit 0 before the swap), fresh adapters (no router approval yet)
    who, _ = await w.payer(credit_after_open=0)
    await approve(who, w.stable, w.router.address, AMOUNT)
    out["router"]["first use"] = await router_swap(who)
    adapter = await w.fresh_adapter()
    who, _ = await w.payer(credit_after_open=0)
    await approve(who, w.stable, adapter.address, AMOUNT)
    data = adapter.encode_swap_to_credit(path, AMOUNT, 1, await w.deadline())
    out["swapToCredit"]["first use"] = await w.measured(who, adapter.address, data)
    adapter = await w.fresh_adapter()
    who, lease = await w.payer(credit_after_open=0)
    await approve(who, w.stable, adapter.address, AMOUNT)
    data = adapter.encode_swap_and_top_up(path, AMOUNT, 1, lease, await w.deadline())
    out["swapAndTopUp"]["first use"] = await w.measured(who, adapter.address, data)
    who, lease = await w.payer(credit_after_open=AMOUNT)
    top_up = w.escrow.encode_top_up(lease, AMOUNT)
    out["topUp"]["first use"] = await w.measured(who, w.escrow.address, top_up)
    relayed = await w.fresh_adapter()
    who, lease = await w.payer(credit_after_open=0)
    out["swapAndTopUpWithPermit (relayed)"]["first use"] = await relay(w, relayed, who, lease, permit=True)

    # typical (exact approve consumed by each swap) and best (standing unlimited approval); warm adapter
    for state, allowance in (("typical", AMOUNT), ("best", MAX_UINT256)):
        who, lease = await w.payer(credit_after_open=AMOUNT)
        await approve(who, w.stable, w.router.address, allowance)
        await approve(who, w.stable, adapter.address, allowance)
        await approve(who, w.token, w.escrow.address, allowance)
        out["router"][state] = await router_swap(who)
        if state == "typical":
            await approve(who, w.stable, adapter.address, allowance)
        data = adapter.encode_swap_to_credit(path, AMOUNT, 1, await w.deadline())
        out["swapToCredit"][state] = await w.measured(who, adapter.address, data)
        if state == "typical":
            await approve(who, w.stable, adapter.address, allowance)
        data = adapter.encode_swap_and_top_up(path, AMOUNT, 1, lease, await w.deadline())
        out["swapAndTopUp"][state] = await w.measured(who, adapter.address, data)
        top_up = w.escrow.encode_top_up(lease, AMOUNT)
        out["topUp"][state] = await w.measured(who, w.escrow.address, top_up)
        # relayed by the backend signer: typical carries a permit for exactly amount_in (what the engine
        # signs), best uses the standing unlimited allowance (no permit)
        gas = await relay(w, adapter, who, lease, permit=state == "typical")
        out["swapAndTopUpWithPermit (relayed)"][state] = gas
    out["router + topUp (2 txs)"] = {s: out["router"][s] + out["topUp"][s] for s in STATES}
    out["swapToCredit - router"] = {s: out["swapToCredit"][s] - out["router"][s] for s in STATES}
    out["swapAndTopUp - router"] = {s: out["swapAndTopUp"][s] - out["router"][s] for s in STATES}
    out["swapAndTopUp - (router + topUp - 21 000)"] = {
        s: out["swapAndTopUp"][s] - (out["router"][s] + out["topUp"][s] - 21_000) for s in STATES
    }
    return out


async def relay(w: World, adapter: SwapTopUpClient, who: LocalSigner, lease: int, *, permit: bool) -> int:
    """The payer signs a SwapRequest (+ a permit of exactly AMOUNT), the deployer relays it; its gas."""
    account = Account.from_key(w.keys[who.address])
    deadline = await w.deadline()
    request = {
        "payer": who.address,
        "leaseId": lease,
        "path": [w.stable.address, w.token.address],
        "amountIn": AMOUNT,
        "amountOutMin": 1,
        "nonce": await adapter.nonces(who.address),
        "deadline": deadline,
    }
    if permit:
        await w.send(who, w.stable.address, w.stable.encode_approve(adapter.address, 0))
    signed = sign_swap_request(account, (await read_domain(adapter)).as_dict(), request)
    permit_ = (
        await input_permit(account, w.stable, adapter.address, AMOUNT, deadline) if permit else NO_PERMIT
    )
    data = adapter.encode_with_permit(request, permit_, bytes(signed.signature))
    return await w.measured(w.signer, adapter.address, data)


def gas_table(runs: list[dict[str, dict[str, int]]]) -> str:
    """One row per transaction; each cell the figure of every run (one figure when they agree, else
    ``median (min-max)``), then what ``swapAndTopUp`` costs against the two transactions it replaces."""

    def cell(values: list[int]) -> str:
        if len(set(values)) == 1:
            return f"{values[0]:,}".replace(",", " ")
        return spread(values, "{:,.0f}").replace(",", " ")

    rows = [[op, *(cell([r[op][s] for r in runs]) for s in STATES)] for op in runs[0]]
    rows.append(
        [
            "swapAndTopUp vs router + topUp (2 txs, the limit)",
            *(
                ratio(
                    [float(r["swapAndTopUp"][s]) for r in runs],
                    [float(r["router + topUp (2 txs)"][s]) for r in runs],
                )
                for s in STATES
            ),
        ]
    )
    return table(["transaction (gasUsed)", "best", "typical", "first use"], rows)


async def measure_on_fresh_anvil() -> dict[str, dict[str, int]]:
    async with Anvil() as node:
        conn = await connect(node.url)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                return await measure(conn, LocalSigner(ANVIL_ACCOUNT0_KEY), Path(tmp))
        finally:
            await conn.close()


async def main() -> None:
    runs = [await measure_on_fresh_anvil() for _ in range(ROUNDS)]
    write_section(
        "swap_gas",
        "Gas: swap + lease top-up through SwapTopUp vs the Uniswap V2 router (100 tUSD -> credit, one hop)",
        gas_table(runs)
        + f"""

``gasUsed`` of full transactions (intrinsic + calldata + execution, after refunds) on anvil, each in a
block 12 s after the previous one. {ROUNDS} runs, each on its own fresh anvil with a fresh suite; gas
does not depend on the machine: runs differ only through calldata bytes (fresh random payer addresses and
deadlines: a zero byte costs 4 gas, another 16), a range shows where they did. States: best =
standing unlimited approval and credit held; typical = the exact approve the API hands out, consumed by
the swap; first use = the payer's first credit and an adapter's first swap of the token. The last row is
per run: swapAndTopUp's gas over the router swap plus a separate topUp (lower is better).""",
    )


if __name__ == "__main__":
    asyncio.run(main())
