"""The wallet overview reads every wallet's credit and native balance in one batched read, on a real node."""

from __future__ import annotations

from eth_account import Account

from chain.devchain import Anvil
from engine.identity.models import WalletLink
from engine.identity.services import ensure_user, link_wallet
from engine.runtime import start_runtime
from engine.settings import Settings
from engine.wallets.commands import wallet_overview

ANVIL_ACCOUNT_1 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"  # pre-funded with 10_000 ETH


async def test_overview_on_anvil_matches_direct_reads(anvil: Anvil, tmp_path, database_url):
    runtime = await start_runtime(
        Settings(data_dir=tmp_path, database_url=database_url, chain_url=anvil.url), spawn_dev_chain=False
    )
    try:
        ctx = runtime.context
        assert ctx.chain.exact_balances_in_eth_call  # the Multicall.getEthBalances path
        empty = Account.create().address
        async with ctx.sessionmaker() as s:
            user = await ensure_user(s, "dev|wallet-balances")
            s.add(WalletLink(user_id=user.id, address=empty, kind="managed"))
            await s.commit()
            await link_wallet(s, user.id, ANVIL_ACCOUNT_1)
            await link_wallet(s, user.id, ctx.signer_address)
        overview = await wallet_overview(ctx, user.id)
        w3 = ctx.chain.w3
        expected = [
            (a, await ctx.contracts.token.balance_of(a), await w3.eth.get_balance(a))
            for a in (empty, ANVIL_ACCOUNT_1, ctx.signer_address)
        ]
    finally:
        await runtime.close()
    assert [(w.address, w.credit_units, w.native_wei) for w in overview.wallets] == expected
    assert expected[1][2] > 0 and expected[0][2] == 0
    assert overview.credit_units == sum(e[1] for e in expected)
    assert overview.mint_destination is not None and overview.mint_destination.address == ANVIL_ACCOUNT_1
    assert overview.pending_credit_units == 0
