"""Deployment flows that stop halfway, and what the API says, on anvil through the HTTP API (issue 11):

* a managed deployment closed while its relayed ``openBySig`` is in flight: the late lease is closed by
  the engine and the deposit refunded;
* a relayed open that reverts fails the deployment with the decoded reason (GET and SSE);
* an unfunded reservation expires after ``reservation_ttl``: capacity released, a late open is an orphan
  (wallet payer: told on the stream with the close to sign);
* the dry-run quote reserves and writes nothing; the catalog is public; list pagination;
* timestamps carry their UTC offset; retired leases show their real index;
* the quote's fee split is what the escrow charges (against the deployed contract).

One runtime, app and set of providers for the module (``world``); each test uses its own users and
regions so that capacity does not leak between tests."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from chain.deploy import send_transaction
from chain.devchain import Anvil, rpc
from engine.deployments import jobs, lifecycle
from engine.deployments.models import Deployment, DeploymentTransition, EscrowRequest, Lease
from engine.outbox.models import OutboxTx
from engine.placement.pricing import settlement_split
from engine.wallets.services import ensure_managed_wallet
from tests.chain.deployments_support import Market, market
from tests.chain.test_deployments_flow import opened_events, send_all, wallet_user

pytestmark = pytest.mark.anvil

DEPLOY = "/api/cloud-user/deployments"
RES = {"cpu_millicores": 1000, "memory_mb": 1024, "disk_gb": 10}
FULL = {"cpu_millicores": 8000, "memory_mb": 1024, "disk_gb": 10}  # a whole node's CPU
# one node per test, in its own region (the operator's default regions)
MANAGED, REVERT, EXPIRE, QUOTE, PAGE, SCALE = (
    "eu-west",
    "eu-central",
    "us-east",
    "us-west",
    "ap-south",
    "ap-east",
)


def spec(region: str, resources: dict[str, int] = RES, **extra: Any) -> dict[str, Any]:
    return {"image": "nginx:1.27", "resources": resources, "regions": [region]} | extra


@pytest.fixture(scope="module")
async def world(anvil: Anvil, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    async with market(anvil, tmp_path_factory.mktemp("lifecycle")) as mk:
        regions = [MANAGED, REVERT, EXPIRE, QUOTE, PAGE]
        p1, p1h, nodes1 = await mk.onboard("dev|lc-p1", [{"name": r, "region": r} for r in regions])
        p2, _, nodes2 = await mk.onboard("dev|lc-p2", [{"name": SCALE, "region": SCALE}])
        by_region = {n["region"]: n for n in nodes1 + nodes2}
        yield {"mk": mk, "p1": p1, "p1h": p1h, "p2": p2, "nodes": by_region}


async def managed_user(mk: Market, sub: str, credit: int) -> tuple[str, dict[str, str]]:
    headers = mk.headers("cloud-user", sub)
    assert mk.runtime.relay is not None
    async with mk.runtime.sessionmaker() as s:
        row = await ensure_managed_wallet(s, await mk.user_id(headers), mk.runtime.relay.keyring)
        await s.commit()
        address = row.address
    if credit:
        await mk.mint(address, credit)
    return address, headers


async def stream(mk: Market, dep_id: int, headers: dict[str, str]) -> list[dict[str, Any]]:
    resp = await mk.client.get(f"{DEPLOY}/{dep_id}/events?max_seconds=0", headers=headers)
    assert resp.status == 200
    return [json.loads(x[5:]) for x in (await resp.text()).splitlines() if x.startswith("data:")]


async def row_counts(mk: Market) -> tuple[int, ...]:
    async with mk.runtime.sessionmaker() as s:
        out = []
        for model in (Deployment, Lease, DeploymentTransition, EscrowRequest, OutboxTx):
            out.append(int(await s.scalar(select(func.count()).select_from(model)) or 0))
    return tuple(out)


# ---- 1. orphaned paying lease ---------------------------------------------------------------------------
async def test_managed_close_while_open_in_flight_closes_the_late_lease_and_refunds(
    world: dict[str, Any],
) -> None:
    mk: Market = world["mk"]
    credit, deposit = 10**8, 500_000
    managed, user = await managed_user(mk, "dev|lc-managed", credit)
    created = await mk.call(
        "POST", DEPLOY, user, 201, json={"spec": spec(MANAGED), "deposit_per_replica": deposit}
    )
    dep_id = created["deployment"]["id"]
    async with mk.runtime.sessionmaker() as s:  # the signed openBySig is already in the outbox
        rows = (await s.scalars(select(OutboxTx).where(OutboxTx.kind == "escrow.openBySig"))).all()
        assert [r.status for r in rows if r.args["deployment_id"] == dep_id] == ["pending"]
    closed = await mk.call("POST", f"{DEPLOY}/{dep_id}/close", user, 200)
    assert closed["deployment"]["status"] == "closed"

    lease_id = None
    for _ in range(8):  # open mined -> indexed (orphan: close queued, signed) -> close mined -> indexed
        await mk.sync()
        got = await mk.call("GET", f"{DEPLOY}/{dep_id}", user, 200)
        (lease,) = got["leases"]
        lease_id = lease["lease_id"] or lease_id
        if lease["status"] == "closed":
            break
    assert lease_id is not None, got
    assert lease["status"] == "closed" and got["status"] == "closed", got
    info = await mk.escrow.lease(int(lease_id))
    assert not info.open and info.balance == 0
    refund = lease["refund"]
    assert 0 < refund <= deposit
    assert await mk.token.balance_of(managed) == credit - deposit + refund
    # a few seconds accrued at most (the lease lived for a couple of blocks)
    assert deposit - refund <= 10 * lease["rate_per_second"]
    reasons = [t["reason"] for t in got["transitions"]]
    assert any("opened after the deployment closed" in r for r in reasons), reasons
    assert [e["to"] for e in await stream(mk, dep_id, user)][:2] == ["funding", "closed"]


# ---- 2. silent stuck funding ----------------------------------------------------------------------------
async def test_relayed_open_that_reverts_fails_the_deployment_with_the_reason(world: dict[str, Any]) -> None:
    mk: Market = world["mk"]
    _, user = await managed_user(mk, "dev|lc-revert", 1_000)  # far less than the deposit
    created = await mk.call(
        "POST", DEPLOY, user, 201, json={"spec": spec(REVERT), "deposit_per_replica": 10**6}
    )
    dep_id = created["deployment"]["id"]
    assert created["deployment"]["status"] == "funding"
    await mk.sync(2)  # the outbox's estimate reverts: the row fails, no event follows
    await jobs.bind(mk.runtime.context)()  # deployments.funding, as the scheduler runs it
    got = await mk.call("GET", f"{DEPLOY}/{dep_id}", user, 200)
    assert got["status"] == "failed", got
    assert got["status_reason"].startswith("funding failed: ")
    assert "ERC20InsufficientBalance" in got["status_reason"], got["status_reason"]
    assert got["leases"][0]["status"] == "cancelled"
    events = await stream(mk, dep_id, user)
    assert [e["to"] for e in events] == ["funding", "failed"]
    assert events[-1]["reason"] == got["status_reason"]
    # the capacity is free again and nothing else happens on the next runs
    await jobs.bind(mk.runtime.context)()
    assert (await mk.call("GET", f"{DEPLOY}/{dep_id}", user, 200))["status"] == "failed"


# ---- 3. capacity griefing ---------------------------------------------------------------------------------
async def test_unfunded_reservation_expires_capacity_is_released_and_a_late_open_is_an_orphan(
    world: dict[str, Any],
) -> None:
    mk: Market = world["mk"]
    ctx = mk.runtime.context
    griefer_wallet, griefer = await wallet_user(mk, "dev|lc-griefer", 0)  # no credit, never signs
    _, other = await wallet_user(mk, "dev|lc-other", 0)
    body = {"spec": spec(EXPIRE, FULL), "duration_seconds": 60}
    held = await mk.call("POST", DEPLOY, griefer, 201, json=body)
    dep_id = held["deployment"]["id"]
    err = (await mk.call("POST", DEPLOY, other, 409, json=body))["error"]
    assert err["code"] == "no_node_fits"

    assert await lifecycle.expire_reservations(ctx) == 0  # within the TTL: nothing expires
    ttl = 5
    later = dataclasses.replace(
        ctx,
        settings=dataclasses.replace(ctx.settings, reservation_ttl=ttl),
        clock=lambda: ctx.clock() + timedelta(seconds=ttl + 1),
    )
    await jobs.funding(later)
    got = await mk.call("GET", f"{DEPLOY}/{dep_id}", griefer, 200)
    assert got["status"] == "expired" and got["leases"][0]["status"] == "cancelled"
    assert got["status_reason"] == f"not funded within {ttl} s: reservation released"
    # the capacity is free: another user's create fits on the same node
    fits = await mk.call("POST", DEPLOY, other, 201, json=body)
    node = world["nodes"][EXPIRE]["chain_node_id"]
    assert (
        fits["deployment"]["leases"][0]["chain_node_id"]
        == node
        == held["deployment"]["leases"][0]["chain_node_id"]
    )
    # closing an expired deployment changes nothing
    assert (await mk.call("POST", f"{DEPLOY}/{dep_id}/close", griefer, 200))["deployment"][
        "status"
    ] == "expired"

    # the griefer signs the old transactions after all: the lease opens, but for an expired deployment
    await mk.mint(griefer_wallet.address, 10**8)
    receipts = await send_all(mk, griefer_wallet, held["transactions"])
    (ev,) = opened_events(mk, receipts[-1])
    lease_id = int(ev["args"]["leaseId"])
    await mk.runtime.indexer.run_once()
    got = await mk.call("GET", f"{DEPLOY}/{dep_id}", griefer, 200)
    assert got["status"] == "expired" and got["leases"][0]["status"] == "orphaned"
    # never run: the node's desired set does not hold it (the other user's deployment is awaiting funds)
    events = await stream(mk, dep_id, griefer)
    assert [e["to"] for e in events] == ["funding", "expired", "expired"]
    (close_tx,) = events[-1]["transactions"]
    assert close_tx["from"] == griefer_wallet.address and close_tx["to"] == mk.escrow.address
    # the engine cannot close it for a wallet payer; the payer signs the close it was handed: refunded
    before = await mk.token.balance_of(griefer_wallet.address)
    (close_receipt,) = await send_all(mk, griefer_wallet, [close_tx])
    await mk.runtime.indexer.run_once()
    got = await mk.call("GET", f"{DEPLOY}/{dep_id}", griefer, 200)
    (lease,) = got["leases"]
    assert lease["status"] == "closed" and lease["lease_id"] == str(lease_id) and lease["refund"] > 0
    assert await mk.token.balance_of(griefer_wallet.address) == before + lease["refund"]
    assert not (await mk.escrow.lease(lease_id)).open and close_receipt["status"] == 1


# ---- 5. dry-run quote and catalog --------------------------------------------------------------------------
async def test_quote_reserves_nothing_and_the_catalog_is_public(world: dict[str, Any]) -> None:
    mk: Market = world["mk"]
    _, user = await wallet_user(mk, "dev|lc-quoter", 0)
    body = {"spec": spec(QUOTE, FULL), "duration_seconds": 600}
    before = await row_counts(mk), await mk.escrow.lease_count()
    quoted = await mk.call("POST", f"{DEPLOY}/quote", user, 200, json=body)
    again = await mk.call("POST", f"{DEPLOY}/quote", user, 200, json=body)  # a whole node, twice: fits
    assert (await row_counts(mk), await mk.escrow.lease_count()) == before
    assert quoted == again
    (replica,) = quoted["replicas"]
    assert replica["chain_node_id"] == world["nodes"][QUOTE]["chain_node_id"]
    q = quoted["quote"]
    assert q["total_deposit"] == 600 * q["total_rate_per_second"]
    fee_bps, _, _ = await mk.escrow.fee_params()
    split = settlement_split(q["total_rate_per_second"], 600, fee_bps)
    assert (q["platform_fee_of_deposit"], q["provider_of_deposit"]) == (split.platform_fee, split.provider)
    # the create that follows fits and quotes the same
    created = await mk.call("POST", DEPLOY, user, 201, json=body)
    assert created["quote"] == q
    await mk.call("POST", f"{DEPLOY}/quote", user, 409, json=body)  # now the node is taken
    bad = {"spec": spec(QUOTE) | {"resources": {"cpu_millicores": -1}}, "duration_seconds": 60}
    assert (await mk.call("POST", f"{DEPLOY}/quote", user, 400, json=bad))["error"]["code"] == "invalid_spec"

    cat = await mk.call("GET", "/api/catalog", {}, 200)  # no credentials
    assert set(cat["regions"]) >= {MANAGED, REVERT, EXPIRE, QUOTE, PAGE, SCALE}
    assert set(cat["floor_prices"]) == {"per_cpu_millicore", "per_memory_mb", "per_disk_gb", "per_gpu"}
    assert cat["platform_fee_bps"] == fee_bps and isinstance(cat["certified_premium_bps"], int)
    pricing = await mk.call(
        "GET", "/api/cloud-operator/pricing", mk.headers("cloud-operator", "dev|lc-op"), 200
    )
    values = pricing.get("values", pricing)
    assert cat["floor_prices"]["per_cpu_millicore"] == values["floor_per_cpu_millicore"]
    assert cat["certified_premium_bps"] == values["certified_premium_bps"]


# ---- 6. pagination ---------------------------------------------------------------------------------------
async def test_deployments_are_listed_a_page_at_a_time(world: dict[str, Any]) -> None:
    mk: Market = world["mk"]
    _, user = await wallet_user(mk, "dev|lc-pager", 0)
    small = {"cpu_millicores": 100, "memory_mb": 64, "disk_gb": 1}
    made = [
        (await mk.call("POST", DEPLOY, user, 201, json={"spec": spec(PAGE, small), "duration_seconds": 60}))[
            "deployment"
        ]["id"]
        for _ in range(5)
    ]
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        url = f"{DEPLOY}?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = await mk.call("GET", url, user, 200)
        seen += [d["id"] for d in page["deployments"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(made, reverse=True) and pages == 3
    default = await mk.call("GET", DEPLOY, user, 200)
    assert [d["id"] for d in default["deployments"]] == seen and default["next_cursor"] is None
    exact = await mk.call("GET", f"{DEPLOY}?limit=5", user, 200)
    assert len(exact["deployments"]) == 5 and exact["next_cursor"] is None
    for bad in ("limit=0", "limit=201", "limit=x", "cursor=not-a-cursor", "cursor=%C2%B3"):
        err = (await mk.call("GET", f"{DEPLOY}?{bad}", user, 400))["error"]
        assert err["code"] in ("invalid_request", "bad_cursor"), err
    for d in made:
        await mk.call("POST", f"{DEPLOY}/{d}/close", user, 200)


# ---- 4. what the API says -------------------------------------------------------------------------------
async def test_timestamps_carry_utc_and_retired_leases_their_real_index(world: dict[str, Any]) -> None:
    mk: Market = world["mk"]
    wallet, user = await wallet_user(mk, "dev|lc-scaler", 10**9)
    body = {
        "spec": spec(SCALE) | {"regions": [SCALE, PAGE], "replicas": 2},
        "duration_seconds": 600,
    }
    created = await mk.call("POST", DEPLOY, user, 201, json=body)
    dep = created["deployment"]
    assert dep["created_at"].endswith("+00:00") and dep["updated_at"].endswith("+00:00")
    await send_all(mk, wallet, created["transactions"])
    await mk.runtime.indexer.run_once()
    got = await mk.call("GET", f"{DEPLOY}/{dep['id']}", user, 200)
    assert got["status"] == "starting", got
    assert got["created_at"] == dep["created_at"] and got["updated_at"].endswith("+00:00")
    assert all(t["at"].endswith("+00:00") for t in got["transitions"])
    listed = await mk.call("GET", DEPLOY, user, 200)
    assert listed["deployments"][0]["created_at"] == dep["created_at"]
    assert all(e["at"].endswith("+00:00") for e in await stream(mk, dep["id"], user))

    scaled = await mk.call("POST", f"{DEPLOY}/{dep['id']}/scale", user, 200, json={"replicas": 1})
    await send_all(mk, wallet, scaled["transactions"])
    await mk.runtime.indexer.run_once()
    got = await mk.call("GET", f"{DEPLOY}/{dep['id']}", user, 200)
    retired = [x for x in got["leases"] if x["retired"]]
    assert [(x["replica_index"], x["role"], x["status"]) for x in retired] == [(1, "retired", "closed")]
    assert all(x["replica_index"] >= 0 for x in got["leases"])
    assert [x["replica_index"] for x in got["leases"] if not x["retired"]] == [0]
    await mk.call("POST", f"{DEPLOY}/{dep['id']}/close", user, 200)


# ---- 4. the fee split is the escrow's ------------------------------------------------------------------
CASES = [(rate, seconds) for rate in (1, 7, 23, 333, 999_983) for seconds in (1, 2, 3, 59, 3_601)]


async def test_settlement_split_matches_the_escrow(world: dict[str, Any]) -> None:
    """Open leases straight on the escrow at chosen rates, settle after exact durations, under several
    fees, and compare what the node was credited with :func:`settlement_split`."""
    mk: Market = world["mk"]
    escrow = mk.escrow
    node = world["nodes"][PAGE]["chain_node_id"]
    payer = await mk.funded_wallet(10**15)
    await send_transaction(
        mk.runtime.chain, payer, to=mk.token.address, data=mk.token.encode_approve(escrow.address, 10**15)
    )
    deployed = await escrow.fee_params()
    try:
        for fee_bps in (deployed[0], 1, 333, 2_000):
            await mk.admin_send(
                escrow.address,
                escrow.encode_set_fee_params(fee_bps, deployed[1], deployed[2]),
                "test.setFeeParams",
            )
            for rate, seconds in CASES:
                short = rate == 23 and seconds == 3_601  # a deposit the settlement empties: capped
                deposit = rate * seconds - 5 if short else rate * seconds * 2
                quoter = mk.runtime.context.require_quoter()
                quote = quoter.sign(quoter.quote(payer.address, node, rate, b"\x11" * 32, now=await mk.now()))
                opened = await send_transaction(
                    mk.runtime.chain,
                    payer,
                    to=escrow.address,
                    data=escrow.encode_open(node, rate, deposit, b"\x11" * 32, quote),
                )
                (ev,) = opened_events(mk, opened)
                lease_id = int(ev["args"]["leaseId"])
                opened_at = int((await mk.runtime.chain.w3.eth.get_block(opened["blockNumber"]))["timestamp"])
                owed = await escrow.node_owed(node)
                await rpc(mk.runtime.chain, "evm_setNextBlockTimestamp", hex(opened_at + seconds))
                await send_transaction(
                    mk.runtime.chain, payer, to=escrow.address, data=escrow.encode_settle(lease_id)
                )
                provider = await escrow.node_owed(node) - owed
                info = await escrow.lease(lease_id)
                due = deposit - info.balance
                want = settlement_split(rate, seconds, fee_bps, balance=deposit)
                assert (due, due - provider, provider) == (want.due, want.platform_fee, want.provider), (
                    fee_bps,
                    rate,
                    seconds,
                )
                if info.open:
                    await send_transaction(
                        mk.runtime.chain, payer, to=escrow.address, data=escrow.encode_close(lease_id)
                    )
    finally:
        await mk.admin_send(escrow.address, escrow.encode_set_fee_params(*deployed), "test.setFeeParams")
