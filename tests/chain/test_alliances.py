"""Provider alliances end to end on anvil, through the HTTP API, with provider wallets that sign what the API
returns: two providers form an alliance (propose, invite, accept), contribute one node each (payee moved to
the splits contract, weight = capacity units), a user's lease on one node is settled and its earnings
collected into the alliance, and both members claim exactly their weight's share (integers, dust counted).

Also: the ``alliances.collect`` keeper job collects a settled lease's earnings through the outbox so members
can claim them, enqueues nothing more in the same period, skips amounts under its threshold and drops
(``checkNode``) a node whose payee moved away; the operator suspends and reinstates a member through the
outbox (one row per click generation, the member notified).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from sqlalchemy import select

from api.app import create_app
from api.auth.devissuer import DevIssuer
from api.routes import identity
from chain.alliances import ACC_SCALE
from chain.contracts import CreditTokenClient, EscrowClient, RegistryClient
from chain.deploy import send_transaction
from chain.devchain import Anvil, rpc
from chain.signer import LocalSigner
from engine.alliances import jobs as alliance_jobs
from engine.alliances.keeper import CollectRound, check_key, collect_key, collect_revenue
from engine.identity.services import link_wallet
from engine.outbox.models import OutboxTx
from engine.runtime import Runtime, start_runtime
from engine.settings import Settings
from tests.api.conftest import serve
from tests.chain.test_marketplace_flow import deliver_outbox

COLLATERAL = 200 * 10**6
RATE = 1_000  # credit units per second (list rate)
DEPOSIT = 50 * 10**6


@pytest.fixture
async def market(anvil: Anvil, tmp_path: Path) -> AsyncIterator[tuple[Runtime, Any, DevIssuer]]:
    settings = Settings(
        data_dir=tmp_path,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'a.db'}",
        chain_url=anvil.url,
        provider_min_collateral=100 * 10**6,
    )
    runtime = await start_runtime(settings, spawn_dev_chain=False)
    options = identity.IdentityOptions(
        env="dev",
        data_dir=tmp_path,
        chain_id=runtime.chain.chain_id,
        dev_issuer=True,
        siwe_domain="a.test",
        siwe_uri="https://a.test",
    )
    try:
        async with serve(create_app(runtime, background=False, identity_options=options)) as client:
            yield runtime, client, DevIssuer(tmp_path)
    finally:
        await runtime.close()


async def sign_and_send(runtime: Runtime, wallet: LocalSigner, txs: list[dict[str, Any]]) -> None:
    """What the provider's wallet does with the API's unsigned transactions."""
    assert txs
    for tx in txs:
        assert tx["chainId"] == runtime.chain.chain_id and tx["from"] == wallet.address, tx
        await send_transaction(
            runtime.chain, wallet, to=tx["to"], data=bytes.fromhex(tx["data"][2:]), value=tx["value"]
        )


async def _ok(resp: Any, status: int = 200) -> Any:
    assert resp.status == status, await resp.text()
    return await resp.json()


async def _provider(runtime: Runtime, client: Any, dev: DevIssuer, name: str, cpu: int, mem: int) -> Any:
    """An approved provider (registered and approved directly on chain) with one node added through the
    API and linked by the indexer; returns (headers, wallet, db node id, chain node id)."""
    conn = runtime.chain
    headers = {"Authorization": "Bearer " + dev.mint(["cloud-provider"], sub=f"dev|alliance-{name}")}
    me = await _ok(await client.get("/api/auth/session", headers=headers))
    wallet = LocalSigner(Account.create().key.hex())
    await rpc(conn, "anvil_setBalance", wallet.address, hex(10**19))
    token = CreditTokenClient(conn.w3, runtime.manifest.address("CreditToken"))
    registry = RegistryClient(conn.w3, runtime.manifest.address("ProviderRegistry"))
    ref = bytes.fromhex(wallet.address[2:]).rjust(32, b"\x00")
    await send_transaction(
        conn, runtime.signer, to=token.address, data=token.encode_mint(wallet.address, COLLATERAL, ref)
    )
    await send_transaction(
        conn, wallet, to=token.address, data=token.encode_approve(registry.address, COLLATERAL)
    )
    await send_transaction(conn, wallet, to=registry.address, data=registry.encode_register(COLLATERAL))
    await send_transaction(
        conn, runtime.signer, to=registry.address, data=registry.encode_approve_provider(wallet.address)
    )
    async with runtime.sessionmaker() as s:
        await link_wallet(s, me["user_id"], wallet.address)
    body = {
        "name": f"{name}-node",
        "wallet": wallet.address,
        "region": "eu-west",
        "country": "DE",
        "resources": {"cpu_millicores": cpu, "memory_mb": mem, "disk_gb": 100, "bandwidth_mbps": 1000},
        "prices": {"per_cpu_millicore": 1, "per_memory_mb": 1, "per_disk_gb": 1, "per_gpu": 0},
    }
    created = await _ok(await client.post("/api/cloud-provider/nodes", json=body, headers=headers), 201)
    await sign_and_send(runtime, wallet, created["transactions"])
    await runtime.indexer.run_once()
    nodes = (await _ok(await client.get("/api/cloud-provider/nodes", headers=headers)))["nodes"]
    assert len(nodes) == 1 and nodes[0]["chain_node_id"] is not None
    return headers, wallet, nodes[0]["id"], nodes[0]["chain_node_id"]


async def test_two_providers_split_a_lease_by_weight(market: Any) -> None:
    runtime, client, dev = market
    conn = runtime.chain
    token = CreditTokenClient(conn.w3, runtime.manifest.address("CreditToken"))
    escrow = EscrowClient(conn.w3, runtime.manifest.address("DeploymentEscrow"))
    registry = RegistryClient(conn.w3, runtime.manifest.address("ProviderRegistry"))
    splits = runtime.manifest.address("AllianceSplits")

    # 8 vCPU + 32 GiB -> 8 + 8 = 16 units; 4 vCPU + 8 GiB -> 4 + 2 = 6 units (engine.alliances.services)
    a_hdr, a_wallet, a_node, a_chain_node = await _provider(runtime, client, dev, "alpha", 8_000, 32_768)
    b_hdr, b_wallet, b_node, b_chain_node = await _provider(runtime, client, dev, "beta", 4_000, 8_192)

    # GET /api/chain lists the contract
    chain_info = await _ok(await client.get("/api/chain"))
    assert "AllianceSplits" in str(chain_info)

    # alpha proposes; the alliance appears once the event is indexed
    create = {
        "wallet": a_wallet.address,
        "name": "North",
        "terms": "split by capacity",
        "notice_period": 3_600,
    }
    proposed = await _ok(await client.post("/api/alliances", json=create, headers=a_hdr), 201)
    assert proposed["step"] == "propose"
    await sign_and_send(runtime, a_wallet, proposed["transactions"])
    await runtime.indexer.run_once()
    listed = (await _ok(await client.get("/api/alliances", headers=a_hdr)))["alliances"]
    assert [a["name"] for a in listed] == ["North"]
    alliance_id = listed[0]["id"]
    one = f"/api/alliances/{alliance_id}"
    # beta is not in it yet: not found for beta
    assert (await client.get(one, headers=b_hdr)).status == 404

    # invite (admin only) -> accept (by beta's wallet, on chain)
    r = await client.post(f"{one}/invite", json={"account": b_wallet.address}, headers=a_hdr)
    await sign_and_send(runtime, a_wallet, (await _ok(r))["transactions"])
    await runtime.indexer.run_once()
    r = await client.post(f"{one}/invite", json={"account": a_wallet.address}, headers=b_hdr)
    assert r.status == 403 and (await r.json())["error"]["code"] == "not_alliance_admin"
    await sign_and_send(
        runtime, b_wallet, (await _ok(await client.post(f"{one}/accept", headers=b_hdr)))["transactions"]
    )
    await runtime.indexer.run_once()

    # both contribute their node: setNodePayee(splits) then contribute(units)
    for hdr, wallet, node in ((a_hdr, a_wallet, a_node), (b_hdr, b_wallet, b_node)):
        done = await _ok(await client.post(f"{one}/nodes", json={"node_id": node}, headers=hdr))
        assert done["transactions"][0]["description"].startswith("pay the node")
        assert [t["description"] for t in done["transactions"]][1] == "contribute"
        await sign_and_send(runtime, wallet, done["transactions"])
    await runtime.indexer.run_once()
    assert (await registry.node_info(a_chain_node)).payee == splits
    detail = await _ok(await client.get(one, headers=b_hdr))
    weights = {m["account"]: m["weight"] for m in detail["members"]}
    assert weights == {a_wallet.address: 16, b_wallet.address: 6}
    assert detail["alliance"]["total_shares"] == 22
    assert sorted(n["chain_node_id"] for n in detail["nodes"]) == sorted([a_chain_node, b_chain_node])

    # a user's lease on alpha's node, settled after an hour
    payer = LocalSigner(Account.create().key.hex())
    await rpc(conn, "anvil_setBalance", payer.address, hex(10**19))
    await send_transaction(
        conn, runtime.signer, to=token.address, data=token.encode_mint(payer.address, DEPOSIT, b"\xa1" * 32)
    )
    await send_transaction(conn, payer, to=token.address, data=token.encode_approve(escrow.address, DEPOSIT))
    quoter = runtime.context.quoter
    assert quoter is not None
    now = await runtime.context.chain_now()
    quote = quoter.quote(payer.address, a_chain_node, RATE, b"\x05" * 32, now=now)
    opened = await send_transaction(
        conn,
        payer,
        to=escrow.address,
        data=escrow.encode_open(a_chain_node, RATE, DEPOSIT, b"\x05" * 32, quoter.sign(quote)),
    )
    # LeaseOpened(uint256 indexed leaseId, ...): the first log of the escrow
    log = next(entry for entry in opened["logs"] if entry["address"] == escrow.address)
    lease_id = int.from_bytes(bytes(log["topics"][1]), "big")
    await rpc(conn, "evm_increaseTime", hex(3_600))
    await rpc(conn, "evm_mine")
    await send_transaction(conn, runtime.signer, to=escrow.address, data=escrow.encode_settle(lease_id))
    owed = await escrow.node_owed(a_chain_node)
    assert owed > 0

    # beta (any member) collects alpha's node earnings into the alliance
    r = await client.post(f"{one}/collect", json={"chain_node_id": a_chain_node}, headers=b_hdr)
    await sign_and_send(runtime, b_wallet, (await _ok(r))["transactions"])
    await runtime.indexer.run_once()
    assert await escrow.node_owed(a_chain_node) == 0
    acc = owed * ACC_SCALE // 22
    expected = {a_wallet.address: 16 * acc // ACC_SCALE, b_wallet.address: 6 * acc // ACC_SCALE}
    dust = owed - sum(expected.values())
    assert 0 <= dust < 2
    detail = await _ok(await client.get(one, headers=a_hdr))
    assert {m["account"]: m["claimable"] for m in detail["members"]} == expected
    assert detail["alliance"]["received"] == owed

    # both claim: exactly their share, paid to their wallets; the contract keeps only the dust
    for hdr, wallet in ((a_hdr, a_wallet), (b_hdr, b_wallet)):
        before = await token.balance_of(wallet.address)
        done = await _ok(await client.post(f"{one}/claim", headers=hdr))
        assert done["details"] == {"account": wallet.address, "amount": expected[wallet.address]}
        await sign_and_send(runtime, wallet, done["transactions"])
        assert await token.balance_of(wallet.address) - before == expected[wallet.address]
    await runtime.indexer.run_once()
    assert await token.balance_of(splits) == dust
    detail = await _ok(await client.get(one, headers=b_hdr))
    assert {m["account"]: (m["claimed"], m["claimable"], m["earned"]) for m in detail["members"]} == {
        account: (amount, 0, amount) for account, amount in expected.items()
    }
    r = await client.post(f"{one}/claim", headers=a_hdr)
    assert r.status == 409 and (await r.json())["error"]["code"] == "nothing_to_claim"

    # withdrawing a node: notice first, the withdrawal after it (with the payee back to the provider)
    r = await client.post(f"{one}/nodes/{b_node}/withdraw", headers=b_hdr)
    notice = await _ok(r)
    assert notice["step"] == "request_node_exit"
    await sign_and_send(runtime, b_wallet, notice["transactions"])
    await rpc(conn, "evm_increaseTime", hex(3_600))
    await rpc(conn, "evm_mine")
    done = await _ok(await client.post(f"{one}/nodes/{b_node}/withdraw", headers=b_hdr))
    assert done["step"] == "withdraw_node"
    await sign_and_send(runtime, b_wallet, done["transactions"])
    await runtime.indexer.run_once()
    assert (await registry.node_info(b_chain_node)).payee == b_wallet.address
    detail = await _ok(await client.get(one, headers=a_hdr))
    assert {m["account"]: m["weight"] for m in detail["members"]} == {
        a_wallet.address: 16,
        b_wallet.address: 0,
    }
    assert [n["chain_node_id"] for n in detail["nodes"]] == [a_chain_node]


# ---- the keeper job and the operator's suspension (issue 13 gaps) ---------------------------------------


async def _outbox_rows(runtime: Runtime, prefix: str) -> list[OutboxTx]:
    async with runtime.sessionmaker() as s:
        rows = await s.scalars(
            select(OutboxTx).where(OutboxTx.idempotency_key.startswith(prefix)).order_by(OutboxTx.id)
        )
        return list(rows.all())


async def _alliance_of_two(runtime: Runtime, client: Any, dev: DevIssuer) -> dict[str, Any]:
    """alpha (16 units) and beta (6 units) in one alliance, both nodes contributed, all indexed."""
    a_hdr, a_wallet, _a_node, a_chain = await _provider(runtime, client, dev, "keeper-a", 8_000, 32_768)
    b_hdr, b_wallet, _b_node, b_chain = await _provider(runtime, client, dev, "keeper-b", 4_000, 8_192)
    body = {"wallet": a_wallet.address, "name": "Keepers", "terms": "t", "notice_period": 3_600}
    await sign_and_send(
        runtime,
        a_wallet,
        (await _ok(await client.post("/api/alliances", json=body, headers=a_hdr), 201))["transactions"],
    )
    await runtime.indexer.run_once()
    alliance_id = (await _ok(await client.get("/api/alliances", headers=a_hdr)))["alliances"][0]["id"]
    one = f"/api/alliances/{alliance_id}"
    r = await client.post(f"{one}/invite", json={"account": b_wallet.address}, headers=a_hdr)
    await sign_and_send(runtime, a_wallet, (await _ok(r))["transactions"])
    await runtime.indexer.run_once()
    r = await client.post(f"{one}/accept", headers=b_hdr)
    await sign_and_send(runtime, b_wallet, (await _ok(r))["transactions"])
    await runtime.indexer.run_once()
    for hdr, wallet, node in ((a_hdr, a_wallet, _a_node), (b_hdr, b_wallet, _b_node)):
        r = await client.post(f"{one}/nodes", json={"node_id": node}, headers=hdr)
        await sign_and_send(runtime, wallet, (await _ok(r))["transactions"])
    await runtime.indexer.run_once()
    return {
        "id": alliance_id,
        "one": one,
        "a": (a_hdr, a_wallet, a_chain),
        "b": (b_hdr, b_wallet, b_chain),
    }


async def _settled_lease(runtime: Runtime, chain_node: int, seconds: int) -> int:
    """A payer's lease on ``chain_node``, settled after ``seconds``: the node is owed its earnings."""
    conn = runtime.chain
    token = CreditTokenClient(conn.w3, runtime.manifest.address("CreditToken"))
    escrow = EscrowClient(conn.w3, runtime.manifest.address("DeploymentEscrow"))
    payer = LocalSigner(Account.create().key.hex())
    await rpc(conn, "anvil_setBalance", payer.address, hex(10**19))
    ref = bytes.fromhex(payer.address[2:]).rjust(32, b"\xa2")
    await send_transaction(
        conn, runtime.signer, to=token.address, data=token.encode_mint(payer.address, DEPOSIT, ref)
    )
    await send_transaction(conn, payer, to=token.address, data=token.encode_approve(escrow.address, DEPOSIT))
    quoter = runtime.context.quoter
    assert quoter is not None
    quote = quoter.quote(payer.address, chain_node, RATE, b"\x06" * 32, now=await runtime.context.chain_now())
    opened = await send_transaction(
        conn,
        payer,
        to=escrow.address,
        data=escrow.encode_open(chain_node, RATE, DEPOSIT, b"\x06" * 32, quoter.sign(quote)),
    )
    log = next(entry for entry in opened["logs"] if entry["address"] == escrow.address)
    lease_id = int.from_bytes(bytes(log["topics"][1]), "big")
    await rpc(conn, "evm_increaseTime", hex(seconds))
    await rpc(conn, "evm_mine")
    await send_transaction(conn, payer, to=escrow.address, data=escrow.encode_settle(lease_id))
    return lease_id


async def test_the_keeper_collects_settled_revenue_once_per_period_and_checks_departed_nodes(
    market: Any,
) -> None:
    runtime, client, dev = market
    ctx = runtime.context
    conn = runtime.chain
    escrow = EscrowClient(conn.w3, runtime.manifest.address("DeploymentEscrow"))
    registry = RegistryClient(conn.w3, runtime.manifest.address("ProviderRegistry"))
    splits = ctx.contracts.require_alliances()
    al = await _alliance_of_two(runtime, client, dev)
    (a_hdr, a_wallet, a_chain), (_b_hdr, b_wallet, b_chain) = al["a"], al["b"]

    lease_id = await _settled_lease(runtime, a_chain, 3_600)
    owed = await escrow.node_owed(a_chain)
    assert owed >= ctx.settings.alliance_collect_min and await escrow.node_owed(b_chain) == 0

    # the job's run: one collect (alpha's node; beta's owes nothing), through the outbox
    period = 7_000_001
    first = await collect_revenue(ctx, period=period)
    assert (first.collected, first.checked, first.owed) == ((a_chain,), (), owed)
    key = collect_key(ctx.chain_id, a_chain, period)
    await deliver_outbox(runtime, key)
    await runtime.indexer.run_once()
    assert await escrow.node_owed(a_chain) == 0
    acc = owed * ACC_SCALE // 22
    expected = {a_wallet.address: 16 * acc // ACC_SCALE, b_wallet.address: 6 * acc // ACC_SCALE}
    assert {a: await splits.claimable(al["id"], a) for a in expected} == expected
    assert 0 <= owed - sum(expected.values()) < 2
    detail = await _ok(await client.get(al["one"], headers=a_hdr))
    assert detail["alliance"]["received"] == owed

    # more earnings in the same period: a second run enqueues nothing (one key per node and period)
    await rpc(conn, "evm_increaseTime", hex(1_800))
    await rpc(conn, "evm_mine")
    await send_transaction(conn, a_wallet, to=escrow.address, data=escrow.encode_settle(lease_id))
    again_owed = await escrow.node_owed(a_chain)
    assert again_owed >= ctx.settings.alliance_collect_min
    second = await collect_revenue(ctx, period=period)
    assert (second.collected, second.checked) == ((), ())
    assert [r.idempotency_key for r in await _outbox_rows(runtime, "alliance-collect:")] == [key]
    assert await escrow.node_owed(a_chain) == again_owed
    # below the threshold nothing is collected; the next period collects what is above it
    low = await collect_revenue(
        dataclasses.replace(ctx, settings=ctx.settings.with_(alliance_collect_min=again_owed + 1)),
        period=period + 1,
    )
    assert low.collected == ()
    third = await alliance_jobs.bind(ctx)()  # the scheduler's job: its period from the clock
    assert isinstance(third, CollectRound) and third.collected == (a_chain,)
    await deliver_outbox(runtime, collect_key(ctx.chain_id, a_chain, third.period))
    assert await escrow.node_owed(a_chain) == 0

    # beta points its node's payee back at itself without withdrawing: the keeper drops it (checkNode)
    await send_transaction(
        conn, b_wallet, to=registry.address, data=registry.encode_set_node_payee(b_chain, b_wallet.address)
    )
    dropped = await collect_revenue(ctx, period=period + 2)
    assert (dropped.collected, dropped.checked) == ((), (b_chain,))
    await deliver_outbox(runtime, check_key(ctx.chain_id, b_chain, period + 2))
    await runtime.indexer.run_once()
    assert (await splits.node_entry(b_chain)).alliance_id == 0
    assert (await splits.member_info(al["id"], b_wallet.address)).weight == 0
    assert (await collect_revenue(ctx, period=period + 3)).checked == ()


async def test_the_operator_suspends_and_reinstates_a_member_through_the_outbox(market: Any) -> None:
    runtime, client, dev = market
    splits = runtime.context.contracts.require_alliances()
    al = await _alliance_of_two(runtime, client, dev)
    b_hdr, b_wallet, _b_chain = al["b"]
    oper = {"Authorization": "Bearer " + dev.mint(["cloud-operator"], sub="dev|alliance-operator")}
    member = f"/api/cloud-operator/alliances/{al['id']}/members/{b_wallet.address}"

    # the provider role may not; the operator's suspend is one outbox row however often it is clicked
    assert (await client.post(f"{member}/suspend", json={}, headers=b_hdr)).status == 403
    first = await _ok(await client.post(f"{member}/suspend", json={"reason": "SLA breaches"}, headers=oper))
    assert first["action"] == "suspend" and first["chain_status"] == "active" and first["outbox_key"]
    again = await _ok(await client.post(f"{member}/suspend", json={"reason": "SLA breaches"}, headers=oper))
    assert again["outbox_key"] == first["outbox_key"]
    await deliver_outbox(runtime, first["outbox_key"])
    await runtime.indexer.run_once()
    info = await splits.member_info(al["id"], b_wallet.address)
    assert (info.status, info.weight) == ("suspended", 0)
    overview = await _ok(await client.get("/api/cloud-operator/alliances", headers=oper))
    (mine,) = [a for a in overview["alliances"] if a["alliance"]["id"] == al["id"]]
    assert {m["account"]: (m["status"], m["weight"]) for m in mine["members"]} == {
        al["a"][1].address: ("active", 16),
        b_wallet.address: ("suspended", 0),
    }
    assert mine["nodes"] == 2
    # suspended already, nothing pending: nothing enqueued
    done = await _ok(await client.post(f"{member}/suspend", json={}, headers=oper))
    assert (done["chain_status"], done["outbox_key"]) == ("suspended", None)

    # reinstate: a new generation, its own row; the weight comes back
    back = await _ok(await client.post(f"{member}/reinstate", headers=oper))
    assert back["outbox_key"] and back["outbox_key"] != first["outbox_key"]
    await deliver_outbox(runtime, back["outbox_key"])
    await runtime.indexer.run_once()
    info = await splits.member_info(al["id"], b_wallet.address)
    assert (info.status, info.weight) == ("active", 6)
    assert len(await _outbox_rows(runtime, first["outbox_key"].rsplit(":", 2)[0])) == 2

    # the member was told, once per action
    inbox = (await _ok(await client.get("/api/notifications", headers=b_hdr)))["notifications"]
    kinds = sorted(n["kind"] for n in inbox if n["kind"].startswith("alliance_member_"))
    assert kinds == ["alliance_member_reinstate", "alliance_member_suspend"]

    # refused: a wallet that is no member (409), an alliance that does not exist (404)
    stranger = f"/api/cloud-operator/alliances/{al['id']}/members/{'0x' + '12' * 20}/suspend"
    r = await client.post(stranger, json={}, headers=oper)
    assert r.status == 409 and (await r.json())["error"]["code"] == "invalid_member_status"
    r = await client.post(
        f"/api/cloud-operator/alliances/999999/members/{b_wallet.address}/reinstate", headers=oper
    )
    assert r.status == 404
    r = await client.post(
        f"/api/cloud-operator/alliances/{al['id']}/members/0x12/suspend", json={}, headers=oper
    )
    assert r.status == 400 and (await r.json())["error"]["code"] == "invalid_address"
