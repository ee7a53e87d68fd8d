"""Deployments end to end on anvil through the HTTP API: quote, placement, escrow open signed by the user's
wallet or relayed for a managed wallet (openBySig via the outbox), per-second payment to the provider,
close and refund, a lease running dry and settled by a keeper, maintenance excluding a node, bad specs.

One runtime, app and set of providers for the module (``world``); each test uses its own users."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from eth_account import Account
from sqlalchemy import func, select
from web3.logs import DISCARD

from chain.deploy import send_transaction
from chain.devchain import Anvil
from chain.signer import LocalSigner
from engine.deployments.models import Deployment, Lease
from engine.deployments.spec import SpecLimits, parse_spec, spec_hash
from engine.identity.services import link_wallet
from engine.nodes.models import Notification
from engine.wallets.services import ensure_managed_wallet
from tests.chain.deployments_support import Market, market, sign_and_send

pytestmark = pytest.mark.anvil

DEPLOY = "/api/cloud-user/deployments"
SPEC = {
    "image": "nginx:1.27",
    "resources": {"cpu_millicores": 1000, "memory_mb": 1024, "disk_gb": 10},
    "regions": ["eu-west"],
}
# node prices (price units): 20_000 * 1000 + 2_000 * 1024 + 200 * 10 = 22_050_000 -> ceil(/10**6) = 23 /s
RATE = 23


@pytest.fixture(scope="module")
async def world(anvil: Anvil, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    async with market(anvil, tmp_path_factory.mktemp("deployments")) as mk:
        p1, p1h, (eu,) = await mk.onboard("dev|dep-p1", [{"name": "eu", "region": "eu-west"}])
        p2, p2h, (us, ap) = await mk.onboard(
            "dev|dep-p2", [{"name": "us", "region": "us-east"}, {"name": "ap", "region": "ap-south"}]
        )
        yield {"mk": mk, "p1": p1, "p1h": p1h, "eu": eu, "p2": p2, "p2h": p2h, "us": us, "ap": ap}


async def wallet_user(mk: Market, sub: str, credit: int) -> tuple[LocalSigner, dict[str, str]]:
    headers = mk.headers("cloud-user", sub)
    wallet = await mk.funded_wallet(credit)
    async with mk.runtime.sessionmaker() as s:
        await link_wallet(s, await mk.user_id(headers), wallet.address)
    return wallet, headers


async def send_all(mk: Market, wallet: LocalSigner, txs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for tx in txs:
        assert tx["from"] == wallet.address and tx["chainId"] == mk.runtime.chain.chain_id
        out.append(
            await send_transaction(
                mk.runtime.chain, wallet, to=tx["to"], data=bytes.fromhex(tx["data"][2:]), value=tx["value"]
            )
        )
    return out


async def block_ts(mk: Market, receipt: dict[str, Any]) -> int:
    return int((await mk.runtime.chain.w3.eth.get_block(receipt["blockNumber"]))["timestamp"])


def opened_events(mk: Market, receipt: dict[str, Any]) -> list[Any]:
    contract = mk.runtime.chain.w3.eth.contract(address=mk.escrow.address, abi=mk.escrow.artifact.abi)
    return list(contract.events.LeaseOpened().process_receipt(receipt, errors=DISCARD))


async def test_wallet_user_deploys_provider_earns_user_closes(world: dict[str, Any]) -> None:
    mk: Market = world["mk"]
    token, escrow = mk.token, mk.escrow
    wallet, user = await wallet_user(mk, "dev|dep-wallet-user", 10**9)
    created = await mk.call("POST", DEPLOY, user, 201, json={"spec": SPEC, "duration_seconds": 3_600})
    quote, dep = created["quote"], created["deployment"]
    fee_bps, _, _ = await escrow.fee_params()
    assert quote["rate_per_replica"] == [RATE] and quote["platform_fee_bps"] == fee_bps
    assert quote["platform_fee_per_second"] == RATE * fee_bps // 10_000  # rounded down, as the escrow
    assert quote["total_deposit"] == RATE * 3_600
    assert dep["status"] == "funding" and dep["funding"] == "wallet" and dep["payer"] == wallet.address
    assert dep["leases"][0]["chain_node_id"] == world["eu"]["chain_node_id"]
    txs = created["transactions"]
    assert [t["description"].split()[0] for t in txs] == ["allow", "open"]
    expected_hash = spec_hash(parse_spec(SPEC, SpecLimits(known_regions=["eu-west"], known_gpu_models=[])))
    assert dep["spec_hash"] == "0x" + expected_hash.hex()

    before_open = await token.balance_of(wallet.address)
    receipts = await send_all(mk, wallet, txs)
    open_receipt = receipts[-1]
    print(f"\ngas used by open (wallet, first lease of this payer): {open_receipt['gasUsed']}")
    (ev,) = opened_events(mk, open_receipt)
    lease_id = int(ev["args"]["leaseId"])
    assert ev["args"]["specHash"] == expected_hash and ev["args"]["ratePerSecond"] == RATE
    info = await escrow.lease(lease_id)
    assert info.open and info.rate_per_second == RATE and info.balance == RATE * 3_600
    assert info.payer == wallet.address and info.node_id == world["eu"]["chain_node_id"]
    assert await token.balance_of(wallet.address) == before_open - RATE * 3_600

    await mk.runtime.indexer.run_once()
    got = await mk.call("GET", f"{DEPLOY}/{dep['id']}", user, 200)
    assert got["status"] == "starting" and got["leases"][0]["lease_id"] == str(lease_id)
    assert got["leases"][0]["status"] == "open" and got["leases"][0]["chain"]["rate_per_second"] == RATE
    chain = got["leases"][0]["chain"]
    assert chain["runway_seconds"] == chain["balance_now"] // RATE == got["runway_seconds"]  # one replica
    assert [t["to"] for t in got["transitions"]] == ["funding", "starting"]

    # time passes; a keeper (the provider here) settles; the provider withdraws rate x elapsed - fee
    await mk.warp(1_000)
    p1: LocalSigner = world["p1"]
    settle = await send_transaction(
        mk.runtime.chain, p1, to=escrow.address, data=escrow.encode_settle(lease_id)
    )
    elapsed = await block_ts(mk, settle) - await block_ts(mk, open_receipt)
    assert elapsed >= 1_000
    due = RATE * elapsed
    fee = due * fee_bps // 10_000
    earnings = await mk.call("GET", "/api/cloud-provider/earnings", world["p1h"], 200)
    assert earnings["total"] == due - fee
    w = await mk.call("POST", f"/api/cloud-provider/nodes/{world['eu']['id']}/withdraw", world["p1h"], 200)
    assert w["owed"] == due - fee
    before = await token.balance_of(p1.address)
    await sign_and_send(mk.runtime, p1, w["transactions"])
    assert await token.balance_of(p1.address) == before + due - fee
    assert await escrow.node_owed(world["eu"]["chain_node_id"]) == 0
    # nothing left: a second withdraw is refused before any transaction
    await mk.call("POST", f"/api/cloud-provider/nodes/{world['eu']['id']}/withdraw", world["p1h"], 409)
    # another provider cannot withdraw this node's earnings
    await mk.call("POST", f"/api/cloud-provider/nodes/{world['eu']['id']}/withdraw", world["p2h"], 404)

    # the user closes: the rest comes back
    await mk.warp(100)
    closing = await mk.call("POST", f"{DEPLOY}/{dep['id']}/close", user, 200)
    assert closing["deployment"]["status"] == "closing"
    before = await token.balance_of(wallet.address)
    (close_receipt,) = await send_all(mk, wallet, closing["transactions"])
    total_due = RATE * (await block_ts(mk, close_receipt) - await block_ts(mk, open_receipt))
    refund = RATE * 3_600 - total_due
    assert await token.balance_of(wallet.address) == before + refund
    await mk.runtime.indexer.run_once()
    got = await mk.call("GET", f"{DEPLOY}/{dep['id']}", user, 200)
    assert got["status"] == "closed" and got["leases"][0]["refund"] == refund
    assert got["leases"][0]["status"] == "closed" and not (await escrow.lease(lease_id)).open
    # ownership: another user neither sees nor closes it
    other = mk.headers("cloud-user", "dev|dep-someone-else")
    await mk.call("GET", f"{DEPLOY}/{dep['id']}", other, 404)
    await mk.call("POST", f"{DEPLOY}/{dep['id']}/close", other, 404)
    assert (await mk.call("GET", DEPLOY, other, 200))["deployments"] == []


async def test_managed_wallet_opens_by_signature_through_the_outbox(world: dict[str, Any]) -> None:
    mk: Market = world["mk"]
    assert mk.runtime.relay is not None
    headers = mk.headers("cloud-user", "dev|dep-managed-user")
    async with mk.runtime.sessionmaker() as s:
        row = await ensure_managed_wallet(s, await mk.user_id(headers), mk.runtime.relay.keyring)
        await s.commit()
        managed = row.address
    await mk.mint(managed, 10**8)
    spec = SPEC | {"regions": [], "replicas": 2}
    created = await mk.call("POST", DEPLOY, headers, 201, json={"spec": spec, "deposit_per_replica": 50_000})
    dep = created["deployment"]
    assert dep["funding"] == "managed" and created["transactions"] == [] and dep["payer"] == managed
    assert {x["chain_node_id"] for x in dep["leases"]} == {
        world["eu"]["chain_node_id"],
        world["us"]["chain_node_id"],
    }
    got: dict[str, Any] = {}

    async def status_is(want: str) -> bool:
        nonlocal got
        got = await mk.call("GET", f"{DEPLOY}/{dep['id']}", headers, 200)
        return bool(got["status"] == want)

    # one request per payer in flight: sign -> relay -> confirm -> index -> next
    await mk.sync_until(lambda: status_is("starting"))
    assert got["status"] == "starting", got
    assert await mk.runtime.chain.w3.eth.get_balance(managed) == 0  # type: ignore[arg-type]  # no ETH: engine paid gas
    assert int((await mk.escrow.call("nonces", managed))[0]) == 2
    assert await mk.token.balance_of(managed) == 10**8 - 2 * 50_000
    for lease in got["leases"]:
        info = await mk.escrow.lease(int(lease["lease_id"]))
        assert info.open and info.payer == managed and info.balance == 50_000

    # top-up and close by signature as well
    await mk.call("POST", f"{DEPLOY}/{dep['id']}/top-up", headers, 200, json={"amount": 10_001})
    topped = 10**8 - 2 * 50_000 - 10_001

    async def balance_is_topped() -> bool:
        return bool(await mk.token.balance_of(managed) == topped)

    await mk.sync_until(balance_is_topped)
    assert await mk.token.balance_of(managed) == topped
    closing = await mk.call("POST", f"{DEPLOY}/{dep['id']}/close", headers, 200)
    assert closing["transactions"] == [] and closing["deployment"]["status"] == "closing"
    await mk.sync_until(lambda: status_is("closed"))
    assert got["status"] == "closed", got
    refunds = sum(x["refund"] for x in got["leases"])
    assert refunds > 0 and await mk.token.balance_of(managed) == 10**8 - 2 * 50_000 - 10_001 + refunds


async def test_lease_running_dry_is_settled_by_any_keeper(world: dict[str, Any]) -> None:
    mk: Market = world["mk"]
    wallet, user = await wallet_user(mk, "dev|dep-dry-user", 10**8)
    created = await mk.call(
        "POST",
        DEPLOY,
        user,
        201,
        json={"spec": SPEC | {"regions": ["us-east"]}, "deposit_per_replica": RATE * 10},
    )
    receipts = await send_all(mk, wallet, created["transactions"])
    (ev,) = opened_events(mk, receipts[-1])
    lease_id = int(ev["args"]["leaseId"])
    await mk.runtime.indexer.run_once()
    await mk.warp(100)
    keeper = await mk.funded_wallet(0)  # no relation to the lease
    fee_bps, share_bps, max_tip = await mk.escrow.fee_params()
    await send_transaction(
        mk.runtime.chain, keeper, to=mk.escrow.address, data=mk.escrow.encode_settle(lease_id)
    )
    info = await mk.escrow.lease(lease_id)
    assert not info.open and info.balance == 0
    fee = RATE * 10 * fee_bps // 10_000  # rounded down
    tip = min(fee * share_bps // 10_000, max_tip)
    assert int((await mk.escrow.call("tipsOwed", keeper.address))[0]) == tip > 0
    await mk.runtime.indexer.run_once()
    got = await mk.call("GET", f"{DEPLOY}/{created['deployment']['id']}", user, 200)
    assert got["status"] == "closed" and got["leases"][0]["refund"] == 0


async def test_node_in_maintenance_gets_no_placement(world: dict[str, Any]) -> None:
    mk: Market = world["mk"]
    _, user = await wallet_user(mk, "dev|dep-maint-user", 10**8)
    # a tenant already running on the node is told about the window (linking's tenants hook)
    tenant_wallet, tenant = await wallet_user(mk, "dev|dep-maint-tenant", 10**8)
    running = await mk.call(
        "POST", DEPLOY, tenant, 201, json={"spec": SPEC | {"regions": ["ap-south"]}, "duration_seconds": 60}
    )
    await send_all(mk, tenant_wallet, running["transactions"])
    await mk.runtime.indexer.run_once()
    now = await mk.now()
    start, end = now + 120, now + 1_920
    r = await mk.call(
        "POST",
        "/api/cloud-provider/maintenance",
        world["p2h"],
        200,
        json={"node_id": world["ap"]["id"], "start": start, "end": end},
    )
    await sign_and_send(mk.runtime, world["p2"], r["transactions"])
    await mk.runtime.indexer.run_once()
    async with mk.runtime.sessionmaker() as s:
        notified = set(
            (
                await s.scalars(
                    select(Notification.user_id).where(Notification.kind == "maintenance_scheduled")
                )
            ).all()
        )
    assert await mk.user_id(tenant) in notified and await mk.user_id(user) not in notified
    body = {"spec": SPEC | {"regions": ["ap-south"]}, "duration_seconds": 3_600}  # lease overlaps the window
    err = (await mk.call("POST", DEPLOY, user, 409, json=body))["error"]
    assert err["code"] == "no_node_fits" and err["details"]["rejections"] == {"maintenance": 1, "region": 2}
    # a lease that ends before the window starts is placed there
    ok = await mk.call("POST", DEPLOY, user, 201, json=body | {"duration_seconds": 60})
    assert ok["deployment"]["leases"][0]["chain_node_id"] == world["ap"]["chain_node_id"]
    await mk.call("POST", f"{DEPLOY}/{ok['deployment']['id']}/close", user, 200)  # never funded: closed


async def _counts(mk: Market) -> tuple[int, int, int]:
    async with mk.runtime.sessionmaker() as s:
        deps = await s.scalar(select(func.count()).select_from(Deployment))
        leases = await s.scalar(select(func.count()).select_from(Lease))
    return int(deps or 0), int(leases or 0), await mk.escrow.lease_count()


@pytest.mark.parametrize(
    ("spec", "status", "code", "field"),
    [
        (
            SPEC | {"resources": {"cpu_millicores": -1, "memory_mb": 1024, "disk_gb": 10}},
            400,
            "invalid_spec",
            ("/spec/resources/cpu_millicores", "negative"),
        ),
        (SPEC | {"regions": ["mars-1"]}, 400, "invalid_spec", ("/spec/regions", "unknown_region")),
        (
            SPEC | {"resources": {"cpu_millicores": 64_000, "memory_mb": 1024, "disk_gb": 10}},
            409,
            "no_node_fits",
            None,
        ),
        (SPEC | {"max_price_per_second": 1}, 422, "max_price_below_floor", None),
    ],
    ids=["negative-resources", "unknown-region", "no-node-fits", "max-price-below-floor"],
)
async def test_bad_specs_are_refused_and_write_nothing(
    world: dict[str, Any], spec: dict[str, Any], status: int, code: str, field: tuple[str, str] | None
) -> None:
    mk: Market = world["mk"]
    _, user = await wallet_user(mk, f"dev|dep-bad-{code}", 0)
    before = await _counts(mk)
    err = (await mk.call("POST", DEPLOY, user, status, json={"spec": spec, "duration_seconds": 60}))["error"]
    assert err["code"] == code
    if field is not None:
        assert [(e["path"], e["code"]) for e in err["details"]["errors"]] == [field]
    if code == "no_node_fits":
        assert err["details"]["rejections"].get("capacity", 0) >= 1
    assert await _counts(mk) == before


async def test_a_user_without_a_wallet_gets_a_clear_400(world: dict[str, Any]) -> None:
    mk: Market = world["mk"]
    user = mk.headers("cloud-user", "dev|dep-no-wallet")
    err = (await mk.call("POST", DEPLOY, user, 400, json={"spec": SPEC, "duration_seconds": 60}))["error"]
    assert err["code"] == "no_wallet"
    stranger = Account.create().address
    _, linked = await wallet_user(mk, "dev|dep-named-wallet", 0)
    err = (
        await mk.call(
            "POST", DEPLOY, linked, 400, json={"spec": SPEC, "duration_seconds": 60, "wallet": stranger}
        )
    )["error"]
    assert err["code"] == "no_wallet"


async def test_a_flagged_account_may_not_deploy(world: dict[str, Any]) -> None:
    from engine.payments.models import AccountFlag

    mk: Market = world["mk"]
    _, user = await wallet_user(mk, "dev|dep-flagged", 10**8)
    async with mk.runtime.sessionmaker() as s:
        s.add(AccountFlag(user_id=await mk.user_id(user), reason="dispute", debt_units=5_000_000))
        await s.commit()
    before = await _counts(mk)
    err = (await mk.call("POST", DEPLOY, user, 403, json={"spec": SPEC, "duration_seconds": 60}))["error"]
    assert err["code"] == "account_flagged" and "5000000" in err["message"]
    assert await _counts(mk) == before
