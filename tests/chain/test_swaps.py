"""Currency swaps (engine.swaps) through the API against anvil with the dev chain's Uniswap V2 deployment:
the quote is the router's getAmountsOut, a swap within its bound moves balances as quoted, a too-tight
``amount_out_min`` reverts on chain and changes nothing; the SwapTopUp adapter swaps and tops up a lease in
one transaction, for a wallet user (unsigned txs) and a managed wallet (relayed through the outbox, no ETH),
and never for a lease of someone else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from eth_account import Account
from web3.logs import DISCARD

from chain.contracts import RegistryClient
from chain.deploy import send_transaction
from chain.devchain import Anvil, rpc
from chain.devswap import ADAPTER_DUST, StablecoinClient, ensure_devswap
from chain.errors import ContractRevert
from chain.signer import LocalSigner
from chain.uniswap import Erc20Client, RouterClient, SwapTopUpClient, amount_out
from engine.identity.services import link_wallet
from engine.runtime import MANIFESTS_DIR
from engine.swaps.services import swap_clients_for
from engine.wallets.services import ensure_managed_wallet, keyring_for, load_account
from tests.chain.deployments_support import Market, market, sign_and_send

QUOTE, SWAP = "/api/wallet/swap/quote", "/api/wallet/swap"
CREDIT = 1_000 * 10**6
DEPOSIT = 50 * 10**6
COLLATERAL = 200 * 10**6
RATE = 1_000  # credit units per second


@pytest.fixture(scope="module")
async def mk(anvil: Anvil, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Market]:
    """One market (runtime, contracts, Uniswap V2) for the module: every test uses wallets, providers and
    leases of its own, and quotes the pool as it finds it."""
    async with market(anvil, tmp_path_factory.mktemp("swaps")) as m:
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
    adapter = chain["contracts"]["SwapTopUp"]  # the swap + top-up adapter, ours
    assert adapter["address"] == _adapter(mk).address
    assert {"swapAndTopUp", "swapAndTopUpWithPermit"} <= {e.get("name") for e in adapter["abi"]}
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


async def _node(mk: Market) -> int:
    """An approved provider's node, straight on chain (register, operator approval via the outbox, add)."""
    registry = RegistryClient(_w3(mk), mk.runtime.manifest.address("ProviderRegistry"))
    provider = await mk.funded_wallet(COLLATERAL)
    chain = mk.runtime.chain
    approve = mk.token.encode_approve(registry.address, COLLATERAL)
    await send_transaction(chain, provider, to=mk.token.address, data=approve)
    await send_transaction(chain, provider, to=registry.address, data=registry.encode_register(COLLATERAL))
    approval = registry.encode_approve_provider(provider.address)
    await mk.admin_send(registry.address, approval, "test.approveProvider")
    receipt = await send_transaction(chain, provider, to=registry.address, data=registry.encode_add_node())
    contract = _w3(mk).eth.contract(address=registry.address, abi=registry.artifact.abi)
    (added,) = contract.events.NodeAdded().process_receipt(receipt, errors=DISCARD)
    return int(added["args"]["nodeId"])


async def _open_lease(mk: Market, payer: LocalSigner, node: int, deposit: int) -> int:
    """``payer`` opens a lease directly (approve + open at an engine-signed quote); returns its id."""
    quoter = mk.runtime.context.require_quoter()
    spec = b"\x5a" * 32
    quote = quoter.sign(quoter.quote(payer.address, node, RATE, spec, now=await mk.now()))
    await send_transaction(
        mk.runtime.chain, payer, to=mk.token.address, data=mk.token.encode_approve(mk.escrow.address, deposit)
    )
    await send_transaction(
        mk.runtime.chain,
        payer,
        to=mk.escrow.address,
        data=mk.escrow.encode_open(node, RATE, deposit, spec, quote),
    )
    return int(payer.address, 16) << 64 | await mk.escrow.lease_count()


async def _faucet(mk: Market, to: str, amount: int) -> None:
    stable = StablecoinClient(_w3(mk), mk.runtime.manifest.address("TestStablecoin"))
    await send_transaction(
        mk.runtime.chain, mk.runtime.signer, to=stable.address, data=stable.encode_mint(to, amount)
    )


async def _settle(mk: Market, swap_id: int, user: dict[str, str]) -> dict[str, Any]:
    """Outbox passes until the relayed swap is final; its status."""
    got: dict[str, Any] = {}

    async def final() -> bool:
        nonlocal got
        got = await mk.call("GET", f"/api/wallet/swaps/{swap_id}", user, 200)
        return bool(got["status"] != "pending")

    if not await mk.sync_until(final):
        raise AssertionError(f"swap {swap_id} still pending")
    return dict(got)


def _adapter(mk: Market) -> SwapTopUpClient:
    return SwapTopUpClient(_w3(mk), mk.runtime.manifest.address("SwapTopUp"))


async def _assert_adapter_empty(mk: Market) -> None:
    """Nothing of the users' stays in the adapter: only the dust chain.devswap gave it (gas)."""
    adapter = _adapter(mk).address
    assert await _erc20(mk, "CreditToken").balance_of(adapter) == ADAPTER_DUST
    assert await _erc20(mk, "TestStablecoin").balance_of(adapter) == ADAPTER_DUST


async def test_managed_wallet_swaps_into_its_lease_in_one_relayed_tx(mk: Market) -> None:
    """No ETH, no approve: the managed key signs a SwapRequest + permit, the outbox relays
    swapAndTopUpWithPermit; a too-tight bound fails with the decoded revert and nothing done."""
    node = await _node(mk)
    user = mk.headers("cloud-user", "dev|swap-managed")
    uid = await mk.user_id(user)
    keyring = keyring_for(mk.runtime.settings)
    async with mk.runtime.sessionmaker() as s:
        await ensure_managed_wallet(s, uid, keyring)
        await s.commit()
        managed = LocalSigner((await load_account(s, uid, keyring)).key.hex())
    await mk.mint(managed.address, DEPOSIT)
    await rpc(mk.runtime.chain, "anvil_setBalance", managed.address, hex(10**18))  # only to open the lease
    lease = await _open_lease(mk, managed, node, DEPOSIT)
    await rpc(mk.runtime.chain, "anvil_setBalance", managed.address, "0x0")
    sent_by_wallet = await _w3(mk).eth.get_transaction_count(managed.address)
    await _faucet(mk, managed.address, 500 * 10**6)
    stable = _erc20(mk, "TestStablecoin")
    amount = 200 * 10**6
    quoted = int(
        (
            await mk.call(
                "POST", QUOTE, user, 200, json={"token_in": "tUSD", "token_out": "CMC", "amount_in": amount}
            )
        )["amount_out"]
    )
    body = await _body(mk, amount, quoted + 1) | {
        "token_in": "tUSD",
        "token_out": "CMC",
        "lease_id": str(lease),
    }

    # too tight: relayed, reverts (the outbox's estimate), the swap shows failed, nothing moved
    tight = await mk.call("POST", SWAP, user, 200, json=body)
    assert tight["managed"] and tight["status"] == "pending" and tight["lease_id"] == str(lease)
    busy = await mk.call("POST", SWAP, user, 409, json=body)  # one relayed swap per wallet at a time
    assert busy["error"]["code"] == "swap_in_flight"
    failed = await _settle(mk, tight["swap_id"], user)
    assert failed["status"] == "failed" and "INSUFFICIENT_OUTPUT_AMOUNT" in failed["error"]
    assert failed["amount_out"] is None
    assert (await mk.escrow.lease(lease)).balance == DEPOSIT
    assert await stable.balance_of(managed.address) == 500 * 10**6
    assert await _adapter(mk).nonces(managed.address) == 0

    # within the bound: one transaction swaps and tops up; the lease gains exactly the quote
    ok = await mk.call("POST", SWAP, user, 200, json=body | {"amount_out_min": quoted})
    done = await _settle(mk, ok["swap_id"], user)
    assert done["status"] == "done" and int(done["amount_out"]) == quoted, done
    assert (await mk.escrow.lease(lease)).balance == DEPOSIT + quoted
    assert await stable.balance_of(managed.address) == 300 * 10**6
    receipt = await _w3(mk).eth.get_transaction_receipt(done["tx_hash"])
    escrow_abi = mk.escrow.artifact.abi
    topped = _w3(mk).eth.contract(address=mk.escrow.address, abi=escrow_abi).events.LeaseToppedUp()
    (ev,) = topped.process_receipt(receipt, errors=DISCARD)
    assert ev["args"]["leaseId"] == lease and ev["args"]["amount"] == quoted
    assert (
        await _w3(mk).eth.get_transaction_count(managed.address) == sent_by_wallet
    )  # the wallet sent nothing
    assert await _w3(mk).eth.get_balance(managed.address) == 0
    await _assert_adapter_empty(mk)

    # without a lease: swapToCreditWithPermit, the credit goes to the managed wallet
    credit_before = await mk.token.balance_of(managed.address)
    no_lease = {k: v for k, v in body.items() if k != "lease_id"} | {"amount_out_min": 1}
    to_wallet = await mk.call("POST", SWAP, user, 200, json=no_lease)
    assert to_wallet["lease_id"] is None
    delivered = await _settle(mk, to_wallet["swap_id"], user)
    assert delivered["status"] == "done" and delivered["lease_id"] is None
    assert await mk.token.balance_of(managed.address) == credit_before + int(delivered["amount_out"])
    assert (await mk.escrow.lease(lease)).balance == DEPOSIT + quoted
    await _assert_adapter_empty(mk)

    # a managed wallet swaps into credit only (the adapter's output); another user's swap is not visible
    out = await mk.call("POST", SWAP, user, 400, json=await _body(mk, 10**6, 1))
    assert out["error"]["details"]["field"] == "token_out"
    other = mk.headers("cloud-user", "dev|swap-other")
    await mk.call("GET", f"/api/wallet/swaps/{ok['swap_id']}", other, 404)


async def test_wallet_user_swaps_and_tops_up_its_own_lease_only(mk: Market) -> None:
    """Unsigned approve + swapAndTopUp that work when signed; another user's lease is refused by the API
    and, for an edited transaction, by the adapter on chain."""
    node = await _node(mk)
    user = mk.headers("cloud-user", "dev|swap-leaser")
    wallet = await mk.funded_wallet(DEPOSIT)
    async with mk.runtime.sessionmaker() as s:
        await link_wallet(s, await mk.user_id(user), wallet.address)
    lease = await _open_lease(mk, wallet, node, DEPOSIT)
    await _faucet(mk, wallet.address, 100 * 10**6)
    amount = 100 * 10**6
    quoted = (
        await _router(mk).get_amounts_out(amount, [_erc20(mk, "TestStablecoin").address, mk.token.address])
    )[-1]
    body = await _body(mk, amount, quoted) | {"token_in": "tUSD", "token_out": "CMC", "lease_id": str(lease)}
    got = await mk.call("POST", SWAP, user, 200, json=body)
    assert [t["description"] for t in got["transactions"]] == [
        "approve the swap adapter",
        "swap and top up the lease",
    ]
    assert got["transactions"][1]["to"] == _adapter(mk).address and got["lease_id"] == str(lease)
    await sign_and_send(mk.runtime, wallet, got["transactions"])
    assert (await mk.escrow.lease(lease)).balance == DEPOSIT + quoted
    assert await _erc20(mk, "TestStablecoin").balance_of(wallet.address) == 0
    await _assert_adapter_empty(mk)

    # Mallory: her own wallet and tokens, Alice's lease
    mallory = mk.headers("cloud-user", "dev|swap-mallory")
    thief = await mk.funded_wallet(0)
    async with mk.runtime.sessionmaker() as s:
        await link_wallet(s, await mk.user_id(mallory), thief.address)
    await _faucet(mk, thief.address, amount)
    refused = await mk.call("POST", SWAP, mallory, 404, json=body)
    assert refused["error"]["code"] == "swap_lease_not_found"
    refused = await mk.call("POST", SWAP, mallory, 404, json=body | {"deployment_id": 999_999})
    assert refused["error"]["code"] == "swap_lease_not_found"
    stable = StablecoinClient(_w3(mk), _erc20(mk, "TestStablecoin").address)
    await send_transaction(
        mk.runtime.chain, thief, to=stable.address, data=stable.encode_approve(_adapter(mk).address, amount)
    )
    path = [stable.address, mk.token.address]
    edited = _adapter(mk).encode_swap_and_top_up(path, amount, 1, lease, await mk.now() + 600)
    with pytest.raises(ContractRevert) as reverted:
        await send_transaction(mk.runtime.chain, thief, to=_adapter(mk).address, data=edited, gas=400_000)
    assert reverted.value.error == "NotLeasePayer"
    assert (await mk.escrow.lease(lease)).balance == DEPOSIT + quoted


def test_price_impact_matches_the_pool_formula() -> None:
    from engine.swaps.commands import _Hop, price_impact_bps

    out = amount_out(10**9, 10**12, 10**12)
    assert price_impact_bps(10**9, out, [_Hop(10**12, 10**12)]) == 9  # ~0.1 % of the pool: ~10 bps
    assert price_impact_bps(10**9, 10**9 * 997 // 1000, [_Hop(10**12, 10**12)]) == 0
