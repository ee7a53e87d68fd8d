"""Currency swaps (engine.swaps) through the API against anvil with the dev chain's Uniswap V2 deployment:
the quote is the router's getAmountsOut, a swap within its bound moves balances as quoted, a too-tight
``amount_out_min`` reverts on chain and changes nothing, a managed wallet without gas is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from chain.deploy import send_transaction
from chain.devchain import Anvil, rpc
from chain.devswap import ensure_devswap
from chain.errors import ContractRevert
from chain.uniswap import Erc20Client, RouterClient, amount_out
from engine.identity.services import link_wallet
from engine.runtime import MANIFESTS_DIR
from engine.swaps.services import swap_clients_for
from engine.wallets.services import ensure_managed_wallet, keyring_for
from tests.chain.deployments_support import Market, market, sign_and_send

QUOTE, SWAP = "/api/wallet/swap/quote", "/api/wallet/swap"
CREDIT = 1_000 * 10**6


@pytest.fixture
async def mk(anvil: Anvil, tmp_path: Path) -> AsyncIterator[Market]:
    async with market(anvil, tmp_path) as m:
        rt = m.runtime
        rt.manifest = await ensure_devswap(
            rt.chain, rt.signer, rt.manifest, rt.settings.data_dir / MANIFESTS_DIR
        )
        rt.context.swaps = swap_clients_for(rt.settings, rt.manifest, rt.chain.w3)
        rt.context.manifest = rt.manifest
        yield m


def _w3(mk: Market) -> Any:
    return mk.runtime.chain.w3


def _router(mk: Market) -> RouterClient:
    return RouterClient(mk.runtime.chain.w3, mk.runtime.manifest.address("UniswapV2Router02"))


def _erc20(mk: Market, name: str) -> Erc20Client:
    return Erc20Client(mk.runtime.chain.w3, mk.runtime.manifest.address(name))


async def _body(mk: Market, amount_in: int, amount_out_min: int, **extra: Any) -> dict[str, Any]:
    return {
        "token_in": "CMC",
        "token_out": "tUSD",
        "amount_in": amount_in,
        "amount_out_min": amount_out_min,
        "deadline": await mk.now() + 600,
        **extra,
    }


async def test_quote_is_the_routers_get_amounts_out_with_price_impact(mk: Market) -> None:
    user = mk.headers("cloud-user", "dev|swap-quoter")
    tokens = mk.runtime.context.swaps.tokens  # type: ignore[union-attr]
    for amount in (10**6, 50_000 * 10**6):
        quoted = await mk.call(
            "POST", QUOTE, user, 200, json={"token_in": "CMC", "token_out": "tUSD", "amount_in": amount}
        )
        onchain = await _router(mk).get_amounts_out(amount, [tokens["CMC"], tokens["tUSD"]])
        assert quoted["route"] == ["CMC", "tUSD"] and int(quoted["amount_out"]) == onchain[-1]
        ideal = amount * 997 // 1000  # a 1:1 pool: mid price after the fee
        assert quoted["price_impact_bps"] == (ideal - onchain[-1]) * 10_000 // ideal
    big = await mk.call(
        "POST", QUOTE, user, 200, json={"token_in": "CMC", "token_out": "tUSD", "amount_in": 100_000 * 10**6}
    )
    assert big["price_impact_bps"] > 800  # 10 % of the pool's depth costs ~9 %
    # no tUSD/WETH pool: routed through the credit pools, and the quote is still the router's
    hop = await mk.call(
        "POST", QUOTE, user, 200, json={"token_in": "tUSD", "token_out": "WETH", "amount_in": 10**6}
    )
    assert hop["route"] == ["tUSD", "CMC", "WETH"]
    assert [int(a) for a in hop["amounts"]] == await _router(mk).get_amounts_out(10**6, hop["path"])
    chain = await mk.call("GET", "/api/chain", {}, 200)  # the Uniswap contracts' ABIs come from npm
    assert chain["contracts"]["UniswapV2Router02"]["address"] == _router(mk).address
    assert any(e.get("name") == "getAmountsOut" for e in chain["contracts"]["UniswapV2Router02"]["abi"])
    bad = await mk.call(
        "POST", QUOTE, user, 400, json={"token_in": "CMC", "token_out": "DOGE", "amount_in": 1}
    )
    assert bad["error"]["code"] == "unknown_swap_token"


async def test_wallet_swap_within_bound_moves_balances_as_quoted_and_too_tight_reverts(mk: Market) -> None:
    user = mk.headers("cloud-user", "dev|swap-wallet")
    wallet = await mk.funded_wallet(CREDIT)
    async with mk.runtime.sessionmaker() as s:
        await link_wallet(s, await mk.user_id(user), wallet.address)
    credit, stable = _erc20(mk, "CreditToken"), _erc20(mk, "TestStablecoin")
    amount = 100 * 10**6
    quoted = int(
        (
            await mk.call(
                "POST", QUOTE, user, 200, json={"token_in": "CMC", "token_out": "tUSD", "amount_in": amount}
            )
        )["amount_out"]
    )

    # too tight: one unit more than the quote; the router reverts, nothing moves
    tight = await mk.call("POST", SWAP, user, 200, json=await _body(mk, amount, quoted + 1))
    assert not tight["managed"] and [t["description"] for t in tight["transactions"]] == [
        "approve the router",
        "swap",
    ]
    await sign_and_send(mk.runtime, wallet, tight["transactions"][:1])  # the approve goes through
    swap_tx = tight["transactions"][1]
    nonce = await _w3(mk).eth.get_transaction_count(wallet.address)
    with pytest.raises(ContractRevert) as reverted:  # a fixed gas limit: mined, and reverted on chain
        await send_transaction(
            mk.runtime.chain, wallet, to=swap_tx["to"], data=bytes.fromhex(swap_tx["data"][2:]), gas=300_000
        )
    assert "INSUFFICIENT_OUTPUT_AMOUNT" in str(reverted.value.error_args)
    assert await _w3(mk).eth.get_transaction_count(wallet.address) == nonce + 1  # it was mined
    assert await credit.balance_of(wallet.address) == CREDIT
    assert await stable.balance_of(wallet.address) == 0

    # within the bound: the allowance is there now, so only the swap; balances move exactly as quoted
    ok = await mk.call("POST", SWAP, user, 200, json=await _body(mk, amount, quoted - 1000))
    assert [t["description"] for t in ok["transactions"]] == ["swap"]
    assert int(ok["quote"]["amount_out"]) == quoted
    await sign_and_send(mk.runtime, wallet, ok["transactions"])
    assert await credit.balance_of(wallet.address) == CREDIT - amount
    assert await stable.balance_of(wallet.address) == quoted

    # the bound and the deadline are required and checked
    body = await _body(mk, amount, 1)
    del body["amount_out_min"]
    await mk.call("POST", SWAP, user, 400, json=body)
    late = await mk.call(
        "POST", SWAP, user, 400, json=await _body(mk, amount, 1) | {"deadline": await mk.now() - 1}
    )
    assert late["error"]["details"]["field"] == "deadline"
    other = Account.create().address
    missing = await mk.call("POST", SWAP, user, 404, json=await _body(mk, amount, 1, wallet=other))
    assert missing["error"]["code"] == "swap_wallet_not_found"


async def test_managed_wallet_swap_is_refused_and_sends_nothing(mk: Market) -> None:
    """Managed wallets cannot swap until a swap goes through the outbox: 409, no transaction sent."""
    user = mk.headers("cloud-user", "dev|swap-managed")
    uid = await mk.user_id(user)
    async with mk.runtime.sessionmaker() as s:
        managed = (await ensure_managed_wallet(s, uid, keyring_for(mk.runtime.settings))).address
        await s.commit()
    await mk.mint(managed, CREDIT)
    await rpc(mk.runtime.chain, "anvil_setBalance", managed, hex(10**18))
    credit, stable = _erc20(mk, "CreditToken"), _erc20(mk, "TestStablecoin")
    refused = await mk.call("POST", SWAP, user, 409, json=await _body(mk, 200 * 10**6, 1))
    assert refused["error"]["code"] == "managed_swap_unsupported"
    assert await _w3(mk).eth.get_transaction_count(managed) == 0
    assert (await credit.balance_of(managed), await stable.balance_of(managed)) == (CREDIT, 0)


def test_price_impact_matches_the_pool_formula() -> None:
    from engine.swaps.commands import _Hop, price_impact_bps

    out = amount_out(10**9, 10**12, 10**12)
    assert price_impact_bps(10**9, out, [_Hop(10**12, 10**12)]) == 9  # ~0.1 % of the pool: ~10 bps
    assert price_impact_bps(10**9, 10**9 * 997 // 1000, [_Hop(10**12, 10**12)]) == 0
