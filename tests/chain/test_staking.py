"""Issue 13, staking discount tiers, on anvil through the HTTP API, the outbox and the real contracts:

* the dev deploy wires ``StakingTiers`` as the escrow's discount oracle (bootstrap seed stake, roles) and
  ``GET /api/chain`` lists it with the platform token;
* the operator schedules tiers (``PUT /api/cloud-operator/staking/tiers``, outbox); they apply only after the
  contract's delay;
* a wallet user stakes and locks through the unsigned transactions of ``POST /api/staking/stake``;
  ``GET /api/staking/me`` shows the tier, the discount and the coverage;
* the deployment quote shows the discount, and the lease's rate on chain equals the quoted discounted rate;
* the spend-rate job reports the account's total open rate; once it exceeds what the stake covers, the next
  quote shows no discount and the next lease is charged the list rate — on chain, not only in the quote;
* unstake is refused while locked (409), then cooldown and withdraw;
* a MANAGED wallet (platform tokens by transfer, no ETH) stakes, requests unstake and withdraws through the
  relay (``stakeBySig`` with a permit, ``requestUnstakeBySig``, ``withdrawBySig`` sent by the engine's
  signer through the outbox), one request at a time (409 ``staking_in_flight``); the indexer's stake events
  feed ``GET /api/staking/me``'s ``indexed`` position and ``history``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from chain.devchain import Anvil
from chain.staking import PlatformTokenClient, StakingClient
from engine.outbox.admin import enqueue_admin_reconcile
from engine.runtime import suite_config
from engine.staking import commands as staking_commands
from engine.wallets.services import ensure_managed_wallet
from tests.chain.deployments_support import Market, deliver_outbox, market
from tests.chain.test_deployments_flow import opened_events, send_all, wallet_user

pytestmark = pytest.mark.anvil

UNIT = 10**18
DEPLOY = "/api/cloud-user/deployments"
SPEC = {"command": ["sleep", "600"], "resources": {"cpu_millicores": 500, "memory_mb": 256, "disk_gb": 1}}
OPERATOR_TIERS = "/api/cloud-operator/staking/tiers"


@pytest.fixture(scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    # Its own anvil: the test moves chain time by the tier delay (a day) and the cooldown (a week).
    async with Anvil() as own_anvil, market(own_anvil, tmp_path_factory.mktemp("staking")) as mk:
        await mk.onboard(
            "dev|st-prov", [{"name": "s1", "region": "eu-west"}, {"name": "s2", "region": "eu-west"}]
        )
        yield {"mk": mk}


def _clients(mk: Market) -> tuple[StakingClient, PlatformTokenClient]:
    staking, token = mk.runtime.context.contracts.require_staking()
    return staking, token


async def _give_tokens(mk: Market, to: str, amount: int) -> None:
    _staking, token = _clients(mk)
    await mk.admin_send(token.address, token.encode_transfer(to, amount), f"test.platform:{uuid.uuid4().hex}")


async def test_the_dev_deploy_wires_staking_as_the_escrows_oracle(world: dict[str, Any]) -> None:
    mk: Market = world["mk"]
    staking, token = _clients(mk)
    assert await mk.escrow.discount_oracle() == staking.address
    assert await staking.token() == token.address
    assert await token.balance_of(staking.address) == 1  # the bootstrap's seed stake
    assert await staking.has_role(staking.OPERATOR_ROLE, mk.runtime.context.signer_address)
    assert await staking.has_role(staking.SPEND_REPORTER_ROLE, mk.runtime.context.signer_address)
    chain = await mk.call("GET", "/api/chain", {}, 200)
    assert chain["contracts"]["StakingTiers"]["address"] == staking.address
    assert chain["contracts"]["PlatformToken"]["address"] == token.address
    public = await mk.call("GET", "/api/staking/tiers", {}, 200)
    assert public["tiers"] == [] and public["escrow_max_discount_bps"] == 5_000


async def test_a_staked_user_is_charged_the_quoted_discounted_rate_and_only_while_covered(
    world: dict[str, Any],
) -> None:
    mk: Market = world["mk"]
    staking, _token = _clients(mk)
    oper = mk.headers("cloud-operator", "dev|st-operator")
    wallet, user = await wallet_user(mk, "dev|st-user", 10**9)
    body = {"spec": SPEC, "deposit_per_replica": 50_000}

    # the list rate r of one replica, before any tier exists: no discount
    plain = await mk.call("POST", DEPLOY + "/quote", user, 200, json=body)
    (list_rate,) = plain["quote"]["rate_per_replica"]
    assert plain["staking_discount"]["discount_bps"] == 0
    # one lease at 40 % off is charged c = ceil(0.6 r); the stake will cover 1.5 c (one lease, not two).
    # coverPerToken = 1e6 units/s per whole token, so `stake` base units cover stake / 1e12 units/s.
    charged = -(-list_rate * 6_000 // 10_000)
    stake = (3 * charged // 2) * 10**12
    tiers = {
        "tiers": [
            {"min_stake": str(stake // 2), "discount_bps": 2_000},
            {"min_stake": str(stake), "min_lock": 30 * 86_400, "discount_bps": 4_000},
        ],
        "cover_per_token": str(10**6),
    }
    bad = {**tiers, "tiers": [{"min_stake": str(UNIT), "discount_bps": 6_001}]}
    assert (await mk.call("PUT", OPERATOR_TIERS, oper, 400, json=bad))["error"]["code"] == "invalid_request"
    scheduled = await mk.call("PUT", OPERATOR_TIERS, oper, 202, json=tiers)
    await mk.sync()
    view = await mk.call("GET", OPERATOR_TIERS, oper, 200)
    assert view["tiers"] == [] and [t["discount_bps"] for t in view["pending"]["tiers"]] == [2_000, 4_000]
    assert view["pending"]["activates_at"] >= scheduled["earliest_activation"]
    await mk.warp(view["pending"]["activates_at"] - await mk.now() - 5)
    assert (await staking.tiers()).tiers == ()  # seconds before the delay is over: not yet
    await mk.warp(5)
    assert len((await staking.tiers()).tiers) == 2

    # stake, locked 60 days: top tier
    await _give_tokens(mk, wallet.address, 50 * UNIT)
    lock_until = await mk.now() + 60 * 86_400
    txs = await mk.call(
        "POST", "/api/staking/stake", user, 200, json={"amount": str(stake), "lock_until": lock_until}
    )
    assert [t["description"] for t in txs["transactions"]] == ["allow the stake", "stake"]
    await send_all(mk, wallet, txs["transactions"])
    me = await mk.call("GET", "/api/staking/me", user, 200)
    assert me["stake"] == {
        "active": str(stake),
        "cooling": "0",
        "cooling_end": 0,
        "locked_until": lock_until,
    }
    assert (me["level"], me["discount_bps"], me["effective_discount_bps"]) == (2, 4_000, 4_000)
    assert me["covered_rate"] == stake // 10**12 and me["next_tier"] is None

    # the quote shows the discount; the lease on chain is charged exactly the quoted discounted rate
    quoted = await mk.call("POST", DEPLOY + "/quote", user, 200, json=body)
    assert quoted["staking_discount"]["discount_bps"] == 4_000
    assert quoted["staking_discount"]["charged_rate_per_replica"] == [charged]
    created = await mk.call("POST", DEPLOY, user, 201, json=body)
    assert created["staking_discount"]["charged_rate_per_replica"] == [charged]
    receipts = await send_all(mk, wallet, created["transactions"])
    (ev,) = opened_events(mk, receipts[-1])
    assert ev["args"]["ratePerSecond"] == charged and ev["args"]["discountBps"] == 4_000
    assert (await mk.escrow.lease(int(ev["args"]["leaseId"]))).rate_per_second == charged
    await mk.sync()
    got = await mk.call("GET", f"{DEPLOY}/{created['deployment']['id']}", user, 200)
    assert got["leases"][0]["status"] == "open"  # the indexer accepts the discounted lease as quoted

    # the spend-rate job reports c (the lease's rate as charged); c <= 1.5 c: still discounted; a second
    # lease makes it 2 c > 1.5 c: no discount from then on
    assert await staking_commands.report_spend_rates(mk.runtime.context) == 1
    await mk.sync()
    assert await staking.spend_rate_of(wallet.address) == charged
    assert await staking_commands.report_spend_rates(mk.runtime.context) == 0  # nothing differs any more
    second = await mk.call("POST", DEPLOY, user, 201, json=body)
    assert second["staking_discount"]["discount_bps"] == 4_000
    await send_all(mk, wallet, second["transactions"])
    await mk.sync()
    await staking_commands.report_spend_rates(mk.runtime.context)
    await mk.sync()
    assert await staking.spend_rate_of(wallet.address) == 2 * charged
    me = await mk.call("GET", "/api/staking/me", user, 200)
    assert (me["level"], me["discount_bps"], me["open_rate"]) == (2, 0, 2 * charged)
    third = await mk.call("POST", DEPLOY, user, 201, json=body)
    assert third["staking_discount"]["discount_bps"] == 0
    receipts = await send_all(mk, wallet, third["transactions"])
    (ev,) = opened_events(mk, receipts[-1])
    assert ev["args"]["ratePerSecond"] == list_rate and ev["args"]["discountBps"] == 0

    # locked: unstake refused with the reason; after the lock, cooldown, then withdraw
    refused = await mk.call("POST", "/api/staking/unstake", user, 409, json={"amount": str(UNIT)})
    assert refused["error"]["code"] == "stake_locked"
    await mk.warp(lock_until - await mk.now())
    txs = await mk.call("POST", "/api/staking/unstake", user, 200, json={"amount": str(stake // 4)})
    await send_all(mk, wallet, txs["transactions"])
    early = await mk.call("POST", "/api/staking/withdraw", user, 409, json={})
    assert early["error"]["code"] == "nothing_to_withdraw"
    await mk.warp(await staking.cooldown())
    txs = await mk.call("POST", "/api/staking/withdraw", user, 200, json={})
    await send_all(mk, wallet, txs["transactions"])
    me = await mk.call("GET", "/api/staking/me", user, 200)
    assert me["stake"]["active"] == str(stake - stake // 4) and me["stake"]["cooling"] == "0"
    assert me["token_balance"] == str(50 * UNIT - stake + stake // 4)


async def test_the_admin_reconcile_points_the_escrow_back_at_staking_through_the_outbox(
    world: dict[str, Any],
) -> None:
    """Drift (the oracle unset on chain) is repaired by the start-up reconcile: one outbox row, confirmed."""
    mk: Market = world["mk"]
    staking, _token = _clients(mk)
    runtime = mk.runtime
    zero = "0x" + "00" * 20
    await mk.admin_send(mk.escrow.address, mk.escrow.encode_set_discount_oracle(zero), "test.unset-oracle")
    assert await mk.escrow.discount_oracle() == zero
    rows = await enqueue_admin_reconcile(
        runtime.sessionmaker,
        runtime.chain,
        runtime.manifest,
        runtime.context.signer_address,
        suite_config(runtime.settings),
        quote_signer=runtime.context.require_quoter().address,
    )
    assert [r.kind for r in rows] == ["admin.escrow.setDiscountOracle"]
    await deliver_outbox(runtime, rows[0].idempotency_key)
    assert await mk.escrow.discount_oracle() == staking.address


async def _relay_until_final(mk: Market, user: dict[str, str], outbox_id: int) -> dict[str, Any]:
    """Outbox and indexer passes until the relayed request is final; ``GET /api/staking/me`` then."""
    me: dict[str, Any] = {}

    async def final() -> bool:
        nonlocal me
        me = await mk.call("GET", "/api/staking/me", user, 200)
        return bool(me["relay"]["outbox_id"] == outbox_id and me["relay"]["status"] != "pending")

    await mk.sync_until(final)
    assert me["relay"]["status"] == "done", me["relay"]
    return me


async def test_a_managed_wallet_stakes_unstakes_and_withdraws_through_the_relay(
    world: dict[str, Any],
) -> None:
    mk: Market = world["mk"]
    staking, token = _clients(mk)
    assert mk.runtime.relay is not None
    user = mk.headers("cloud-user", "dev|st-managed")
    async with mk.runtime.sessionmaker() as s:
        row = await ensure_managed_wallet(s, await mk.user_id(user), mk.runtime.relay.keyring)
        await s.commit()
        managed = row.address
    await _give_tokens(mk, managed, 10 * UNIT)  # a plain transfer: the only way tokens reach a managed wallet
    w3 = mk.runtime.chain.w3
    signer_tokens = await token.balance_of(mk.runtime.context.signer_address)

    # more than the wallet holds: refused before anything is signed
    short = await mk.call("POST", "/api/staking/stake", user, 422, json={"amount": str(11 * UNIT)})
    assert short["error"]["code"] == "invalid_stake_amount"
    lock_until = await mk.now() + 86_400
    sent = await mk.call(
        "POST", "/api/staking/stake", user, 200, json={"amount": str(4 * UNIT), "lock_until": lock_until}
    )
    assert sent["address"] == managed and sent["transactions"] == []
    relayed = sent["relayed"]
    assert (relayed["function"], relayed["status"], relayed["nonce"]) == ("stakeBySig", "pending", 0)
    # one at a time: the account's by-signature nonce is one sequence
    busy = await mk.call("POST", "/api/staking/stake", user, 409, json={"amount": str(UNIT)})
    assert busy["error"]["code"] == "staking_in_flight"
    assert busy["error"]["details"]["outbox_id"] == relayed["outbox_id"]
    me = await _relay_until_final(mk, user, relayed["outbox_id"])
    assert me["funding"] == "managed"
    assert me["stake"] == {
        "active": str(4 * UNIT),
        "cooling": "0",
        "cooling_end": 0,
        "locked_until": lock_until,
    }
    assert me["token_balance"] == str(6 * UNIT)
    assert await w3.eth.get_balance(managed) == 0  # type: ignore[arg-type]  # no ETH: the engine paid the gas
    assert await staking.nonces(managed) == 1
    # the index: same figures, and the event
    assert me["indexed"]["active"] == str(4 * UNIT) and me["indexed"]["locked_until"] == lock_until
    assert me["indexed"]["staked_total"] == str(4 * UNIT)
    assert [(h["kind"], h["amount"], h["until"]) for h in me["history"]] == [
        ("staked", str(4 * UNIT), lock_until)
    ]

    # the lock holds through the relay path too: refused by the engine, then after the lock relayed
    locked = await mk.call("POST", "/api/staking/unstake", user, 409, json={"amount": str(UNIT)})
    assert locked["error"]["code"] == "stake_locked"
    await mk.warp(lock_until - await mk.now())
    sent = await mk.call("POST", "/api/staking/unstake", user, 200, json={"amount": str(UNIT)})
    assert sent["relayed"]["function"] == "requestUnstakeBySig" and sent["relayed"]["nonce"] == 1
    me = await _relay_until_final(mk, user, sent["relayed"]["outbox_id"])
    assert me["stake"]["active"] == str(3 * UNIT) and me["stake"]["cooling"] == str(UNIT)
    assert (
        me["indexed"]["cooling"] == str(UNIT) and me["indexed"]["cooling_end"] == me["stake"]["cooling_end"]
    )
    early = await mk.call("POST", "/api/staking/withdraw", user, 409, json={})
    assert early["error"]["code"] == "nothing_to_withdraw"
    await mk.warp(await staking.cooldown())
    sent = await mk.call("POST", "/api/staking/withdraw", user, 200, json={})
    me = await _relay_until_final(mk, user, sent["relayed"]["outbox_id"])
    assert me["stake"]["cooling"] == "0" and me["token_balance"] == str(7 * UNIT)  # back to the wallet
    assert await token.balance_of(mk.runtime.context.signer_address) == signer_tokens  # the relayer got none
    assert me["indexed"]["withdrawn_total"] == str(UNIT) and me["indexed"]["cooling"] == "0"
    assert [h["kind"] for h in me["history"]] == ["withdrawn", "unstake_requested", "staked"]
