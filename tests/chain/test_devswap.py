"""Uniswap V2 on the dev chain (chain.devswap, chain.uniswap) against anvil: the npm artifacts deploy, the
router's baked-in pair init-code hash is the factory's pair bytecode hash, pools are seeded once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chain.connect import ChainConnection
from chain.deploy import deploy_suite, load_manifest
from chain.devchain import dev_signer_key
from chain.devswap import (
    ADAPTER_DUST,
    STABLE_POOL,
    WETH_POOL_CREDIT,
    WETH_POOL_ETH,
    dev_swap_tokens,
    ensure_devswap,
)
from chain.signer import LocalSigner
from chain.uniswap import (
    PAIR_INIT_CODE_HASH,
    Erc20Client,
    FactoryClient,
    PairClient,
    RouterClient,
    amount_out,
    pair_address,
    pair_init_code_hash,
    uniswap_artifact,
)


def test_pair_init_code_hash_of_v2_core_is_the_one_baked_into_the_router() -> None:
    assert pair_init_code_hash() == PAIR_INIT_CODE_HASH
    # UniswapV2Library.pairFor is inlined into the router: the hash is a literal in its runtime code
    assert PAIR_INIT_CODE_HASH in uniswap_artifact("UniswapV2Router02").deployed_bytecode


async def test_devswap_deploys_seeds_and_the_router_finds_the_factory_pairs(
    anvil_conn: ChainConnection, tmp_path: Path
) -> None:
    conn = anvil_conn
    w3: Any = conn.w3
    signer = LocalSigner(dev_signer_key(conn))
    manifest_dir = tmp_path
    suite = await deploy_suite(conn, signer, manifest_dir=manifest_dir)
    manifest = await ensure_devswap(conn, signer, suite, manifest_dir)
    assert load_manifest(manifest_dir, conn.chain_id) == manifest  # written under their own names
    tokens = dev_swap_tokens(manifest)
    assert set(tokens) == {"CMC", "tUSD", "WETH"}
    # the swap adapter keeps one unit of each token for good (its balances never go 0 -> x -> 0)
    adapter = manifest.address("SwapTopUp")
    for address in tokens.values():
        assert await Erc20Client(conn.w3, address).balance_of(adapter) == ADAPTER_DUST

    router = RouterClient(conn.w3, manifest.address("UniswapV2Router02"))
    factory = FactoryClient(conn.w3, manifest.address("UniswapV2Factory"))
    assert await router.factory() == factory.address
    assert await router.weth() == tokens["WETH"]
    for other, (credit_side, other_side) in (
        ("tUSD", (STABLE_POOL, STABLE_POOL)),
        ("WETH", (WETH_POOL_CREDIT, WETH_POOL_ETH)),
    ):
        created = await factory.get_pair(tokens["CMC"], tokens[other])
        # the CREATE2 address from the factory's pair bytecode hash is the pair the factory created ...
        assert pair_address(factory.address, tokens["CMC"], tokens[other], pair_init_code_hash()) == created
        pair = PairClient(conn.w3, created)
        r0, r1 = await pair.reserves()
        reserves = (r0, r1) if await pair.token0() == tokens["CMC"] else (r1, r0)
        assert reserves == (credit_side, other_side)
        # ... and the router's pairFor (inside getAmountsOut) reads exactly that pair's reserves
        amounts = await router.get_amounts_out(10**6, [tokens["CMC"], tokens[other]])
        assert amounts == [10**6, amount_out(10**6, *reserves)]

    nonce = await w3.eth.get_transaction_count(signer.address)
    again = await ensure_devswap(conn, signer, manifest, manifest_dir)
    assert again == manifest
    assert await w3.eth.get_transaction_count(signer.address) == nonce  # seeded once, nothing sent
