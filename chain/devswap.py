"""Dev chains only: Uniswap V2 (factory, router, WETH9), a test stablecoin, and seeded pools.

:func:`ensure_devswap` runs after :func:`chain.deploy.deploy_suite` on a dev chain. It deploys
``WETH9``, ``UniswapV2Factory`` and ``UniswapV2Router02`` from the npm packages' build artifacts
(:mod:`chain.uniswap`), ``TestStablecoin`` (``contracts/src/dev``) and our ``SwapTopUp`` adapter (router +
the suite's escrow: swap and lease top-up in one transaction), then seeds two pools from the
signer: credit/stable at 1:1 (:data:`STABLE_POOL` each side) and credit/WETH (:data:`WETH_POOL_CREDIT`
credit against :data:`WETH_POOL_ETH` wei), and gives the adapter :data:`ADAPTER_DUST` of each token
(:func:`seed_adapter_dust`, a gas measure: see there). The addresses go into the suite's manifest under
their own names (:data:`DEVSWAP`), so ``GET /api/chain`` and the engine find them.

Idempotent: when every entry still has its recorded code and both pools hold reserves, nothing is sent.
A reset chain, or a suite redeployed with a new credit token (its manifest no longer names these
contracts), deploys and seeds everything again. Like the suite bootstrap it signs and sends directly: a
dev chain's deployer has no outbox rows to race with. On a public chain nothing here runs: the router and
tokens come from settings (``swap_router_address``, ``swap_tokens``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from chain.artifacts import Artifact, load_artifact
from chain.connect import ChainConnection
from chain.contracts import ContractClient, CreditTokenClient
from chain.deploy import DeployedContract, Manifest, send_transaction, write_manifest
from chain.signer import LocalSigner
from chain.uniswap import MAX_UINT256, Erc20Client, FactoryClient, PairClient, RouterClient, uniswap_artifact

DEVSWAP = ("WETH9", "UniswapV2Factory", "UniswapV2Router02", "TestStablecoin", "SwapTopUp")
STABLE_POOL = 1_000_000 * 10**6  # each side of credit/stable (6 decimals both)
WETH_POOL_CREDIT = 300_000 * 10**6
WETH_POOL_ETH = 100 * 10**18  # 3,000 credit per ETH
ZERO = "0x" + "0" * 40
ADAPTER_DUST = 1  # smallest unit of each token the SwapTopUp adapter keeps for good (seed_adapter_dust)
# symbols the swaps room offers on a dev chain -> manifest names
DEV_TOKENS = {"CMC": "CreditToken", "tUSD": "TestStablecoin", "WETH": "WETH9"}


class StablecoinClient(ContractClient):
    """``TestStablecoin``: an ERC-20 anyone may mint (dev chains only)."""

    artifact_name = "TestStablecoin"

    def encode_mint(self, to: str, amount: int) -> bytes:
        return self.encode("mint", to_checksum_address(to), amount)

    def encode_approve(self, spender: str, amount: int) -> bytes:
        return self.encode("approve", to_checksum_address(spender), amount)


def dev_swap_tokens(manifest: Manifest) -> dict[str, str]:
    """Symbol -> address of the dev chain's swappable tokens (empty when devswap is not deployed)."""
    if not all(name in manifest.contracts for name in DEV_TOKENS.values()):
        return {}
    return {symbol: manifest.address(name) for symbol, name in DEV_TOKENS.items()}


async def _code_hash(conn: ChainConnection, address: str) -> str:
    code = bytes(await conn.w3.eth.get_code(to_checksum_address(address)))
    return "0x" + keccak(code).hex() if code else ""


async def _deploy(
    conn: ChainConnection,
    signer: LocalSigner,
    artifact: Artifact,
    ctor_types: Sequence[str] = (),
    ctor_args: Sequence[Any] = (),
) -> DeployedContract:
    data = artifact.bytecode + abi_encode(list(ctor_types), list(ctor_args))
    receipt = await send_transaction(conn, signer, to=None, data=data)
    address = to_checksum_address(receipt["contractAddress"])
    tx_hash = receipt["transactionHash"]
    return DeployedContract(
        address=address,
        tx_hash=tx_hash.to_0x_hex() if hasattr(tx_hash, "to_0x_hex") else str(tx_hash),
        block_number=int(receipt["blockNumber"]),
        source_hash=artifact.source_hash,
        code_hash=await _code_hash(conn, address),
    )


async def is_seeded(conn: ChainConnection, manifest: Manifest) -> bool:
    """Whether every devswap contract runs its recorded code and both pools hold reserves."""
    for name in DEVSWAP:
        entry = manifest.contracts.get(name)
        if entry is None or await _code_hash(conn, entry.address) != entry.code_hash:
            return False
    factory = FactoryClient(conn.w3, manifest.address("UniswapV2Factory"))
    credit = manifest.address("CreditToken")
    for other in (manifest.address("TestStablecoin"), manifest.address("WETH9")):
        pair = await factory.get_pair(credit, other)
        if pair == to_checksum_address(ZERO) or 0 in await PairClient(conn.w3, pair).reserves():
            return False
    return True


async def ensure_devswap(
    conn: ChainConnection, signer: LocalSigner, manifest: Manifest, manifest_dir: Path
) -> Manifest:
    """Deploy and seed (or reuse) Uniswap V2 + the test stablecoin; returns the manifest naming them."""
    if await is_seeded(conn, manifest):
        # an adapter deployed before it kept dust gets it now (nothing is sent when it has it)
        await seed_adapter_dust(
            conn,
            signer,
            manifest.address("SwapTopUp"),
            manifest.address("CreditToken"),
            manifest.address("TestStablecoin"),
            manifest.address("WETH9"),
        )
        return manifest
    weth = await _deploy(conn, signer, uniswap_artifact("WETH9"))
    factory = await _deploy(
        conn, signer, uniswap_artifact("UniswapV2Factory"), ("address",), (signer.address,)
    )
    router = await _deploy(
        conn,
        signer,
        uniswap_artifact("UniswapV2Router02"),
        ("address", "address"),
        (factory.address, weth.address),
    )
    stable = await _deploy(conn, signer, load_artifact("TestStablecoin"))
    adapter = await _deploy(
        conn,
        signer,
        load_artifact("SwapTopUp"),
        ("address", "address"),
        (router.address, manifest.address("DeploymentEscrow")),
    )
    await _seed(conn, signer, manifest.address("CreditToken"), stable.address, router.address)
    await seed_adapter_dust(
        conn, signer, adapter.address, manifest.address("CreditToken"), stable.address, weth.address
    )
    updated = replace(
        manifest,
        contracts=dict(manifest.contracts)
        | {
            "WETH9": weth,
            "UniswapV2Factory": factory,
            "UniswapV2Router02": router,
            "TestStablecoin": stable,
            "SwapTopUp": adapter,
        },
    )
    write_manifest(manifest_dir, updated)
    return updated


async def _seed(conn: ChainConnection, signer: LocalSigner, credit: str, stable: str, router: str) -> None:
    token = CreditTokenClient(conn.w3, credit)
    stable_token = StablecoinClient(conn.w3, stable)
    routing = RouterClient(conn.w3, router)
    me = signer.address

    async def send(to: str, data: bytes, value: int = 0) -> None:
        await send_transaction(conn, signer, to=to, data=data, value=value)

    ref = keccak(text=f"devswap-seed:{stable}")  # single-use mint ref: one per stablecoin deployment
    await send(credit, token.encode_mint(me, STABLE_POOL + WETH_POOL_CREDIT, ref))
    await send(stable, stable_token.encode_mint(me, STABLE_POOL))
    await send(credit, token.encode_approve(router, MAX_UINT256))
    await send(stable, stable_token.encode_approve(router, MAX_UINT256))
    deadline = int((await conn.w3.eth.get_block("latest"))["timestamp"]) + 3_600
    await send(router, routing.encode_add_liquidity(credit, stable, STABLE_POOL, STABLE_POOL, me, deadline))
    await send(
        router, routing.encode_add_liquidity_eth(credit, WETH_POOL_CREDIT, me, deadline), value=WETH_POOL_ETH
    )


async def seed_adapter_dust(
    conn: ChainConnection, signer: LocalSigner, adapter: str, credit: str, stable: str, weth: str
) -> None:
    """Give the ``SwapTopUp`` adapter :data:`ADAPTER_DUST` of credit, stable and WETH (the deployer's own).

    The adapter passes each swap's tokens through its own balances (input: pulled, then taken by the
    pair; credit: delivered, then pulled by the escrow). From zero, each is a fresh storage slot set and
    cleared in one transaction, whose refund EIP-3529 caps at a fifth of the transaction's gas: 7k-11k
    more per ``swapAndTopUp`` (``bench/swap_gas.py``). A standing unit keeps both slots non-zero (no cap
    reached). The adapter moves exact amounts only, so the dust is never spent and is nobody's money but
    the deployer's. Tokens that already hold some are skipped (idempotent); the signer must be the credit
    token's minter (dev chain).
    """

    async def send(to: str, data: bytes, value: int = 0) -> None:
        await send_transaction(conn, signer, to=to, data=data, value=value)

    token = CreditTokenClient(conn.w3, credit)
    if await token.balance_of(adapter) == 0:
        ref = keccak(text=f"devswap-dust:{to_checksum_address(adapter)}")  # one credit dust mint per adapter
        await send(credit, token.encode_mint(adapter, ADAPTER_DUST, ref))
    if await Erc20Client(conn.w3, stable).balance_of(adapter) == 0:
        await send(stable, StablecoinClient(conn.w3, stable).encode_mint(adapter, ADAPTER_DUST))
    wrapped = ContractClient(conn.w3, weth, artifact=uniswap_artifact("WETH9"))
    if await Erc20Client(conn.w3, weth).balance_of(adapter) == 0:
        await send(weth, wrapped.encode("deposit"), value=ADAPTER_DUST)
        await send(weth, wrapped.encode("transfer", to_checksum_address(adapter), ADAPTER_DUST))
