"""Provider onboarding end to end on anvil, through the HTTP API, with a provider wallet that signs what
the API returns (as the wallet frontend would): register -> operator approve (outbox, backend signer) ->
add nodes (linked by the indexer) -> maintenance (too-short notice refused; signed window indexed; the
node is reported in maintenance and flagged for placement)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from sqlalchemy import func, select

from api.app import create_app
from api.auth.devissuer import DevIssuer
from api.routes import identity
from chain.contracts import CreditTokenClient, RegistryClient
from chain.deploy import send_transaction
from chain.devchain import Anvil, rpc
from chain.signer import LocalSigner
from engine.identity.services import link_wallet
from engine.nodes.candidates import nodes_in_maintenance, placement_candidates
from engine.outbox.models import OutboxStatus, OutboxTx
from engine.runtime import Runtime, start_runtime
from engine.settings import Settings
from tests.api.conftest import serve

NOTICE = 3_600
MAX_WINDOW = 7_200
COLLATERAL = 250 * 10**6


@pytest.fixture
async def market(anvil: Anvil, tmp_path: Path) -> AsyncIterator[tuple[Runtime, Any, DevIssuer]]:
    settings = Settings(
        data_dir=tmp_path,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'm.db'}",
        chain_url=anvil.url,
        provider_min_collateral=100 * 10**6,
        maintenance_min_notice=NOTICE,
        maintenance_max_window=MAX_WINDOW,
    )
    runtime = await start_runtime(settings, spawn_dev_chain=False)
    options = identity.IdentityOptions(
        env="dev",
        data_dir=tmp_path,
        chain_id=runtime.chain.chain_id,
        dev_issuer=True,
        siwe_domain="m.test",
        siwe_uri="https://m.test",
    )
    try:
        async with serve(create_app(runtime, background=False, identity_options=options)) as client:
            yield runtime, client, DevIssuer(tmp_path)
    finally:
        await runtime.close()


async def sign_and_send(runtime: Runtime, wallet: LocalSigner, txs: list[dict[str, Any]]) -> None:
    """What the wallet does with the API's unsigned transactions."""
    for tx in txs:
        assert tx["chainId"] == runtime.chain.chain_id and tx["from"] == wallet.address
        await send_transaction(
            runtime.chain, wallet, to=tx["to"], data=bytes.fromhex(tx["data"][2:]), value=tx["value"]
        )


async def deliver_outbox(runtime: Runtime, key: str) -> None:
    for _ in range(20):
        await runtime.sender.run_once()
        async with runtime.sessionmaker() as s:
            row = (await s.scalars(select(OutboxTx).where(OutboxTx.idempotency_key == key))).one()
        if row.status in (OutboxStatus.CONFIRMED, OutboxStatus.FAILED):
            break
    assert row.status is OutboxStatus.CONFIRMED, row.last_error


async def test_register_approve_add_node_maintenance(market) -> None:  # type: ignore[no-untyped-def]
    runtime, client, dev = market
    conn = runtime.chain
    prov = {"Authorization": "Bearer " + dev.mint(["cloud-provider"], sub="dev|flow-provider")}
    oper = {"Authorization": "Bearer " + dev.mint(["cloud-operator"], sub="dev|flow-operator")}
    me = await (await client.get("/api/auth/session", headers=prov)).json()

    wallet = LocalSigner(Account.create().key.hex())
    await rpc(conn, "anvil_setBalance", wallet.address, hex(10**19))
    token = CreditTokenClient(conn.w3, runtime.manifest.address("CreditToken"))
    registry = RegistryClient(conn.w3, runtime.manifest.address("ProviderRegistry"))
    await send_transaction(
        conn, runtime.signer, to=token.address, data=token.encode_mint(wallet.address, 10**9, b"\x51" * 32)
    )
    async with runtime.sessionmaker() as s:
        await link_wallet(s, me["user_id"], wallet.address)

    body = {"wallet": wallet.address, "company": "Acme", "contact_name": "A", "contact_email": "a@acme.io"}
    # below the minimum collateral: 400, nothing written
    r = await client.post("/api/cloud-provider/register", json=body | {"collateral": 10**6}, headers=prov)
    assert r.status == 400 and (await r.json())["error"]["code"] == "collateral_too_low"
    r = await client.post(
        "/api/cloud-provider/register", json=body | {"collateral": COLLATERAL}, headers=prov
    )
    assert r.status == 201, await r.text()
    reg = await r.json()
    assert reg["transactions"][0]["description"].startswith("allow")  # no allowance yet
    request_id = reg["request"]["id"]

    # approving before the provider's register tx is indexed: nothing to approve on chain yet
    r = await client.post(f"/api/cloud-operator/provider-requests/{request_id}/approve", headers=oper)
    assert r.status == 409 and (await r.json())["error"]["code"] == "not_registered_on_chain"

    await sign_and_send(runtime, wallet, reg["transactions"])
    await runtime.indexer.run_once()
    assert (await registry.provider_info(wallet.address)).status == "Pending"
    for _ in range(2):  # idempotent: one outbox row
        r = await client.post(f"/api/cloud-operator/provider-requests/{request_id}/approve", headers=oper)
        assert r.status == 200, await r.text()
    key = f"provider-approve:{wallet.address.lower()}:{request_id}"
    async with runtime.sessionmaker() as s:
        assert (
            await s.scalar(
                select(func.count())
                .select_from(OutboxTx)
                .where(
                    OutboxTx.kind == "registry.approveProvider",
                    OutboxTx.args["provider"].as_string() == wallet.address,
                )
            )
            == 1
        )
    await deliver_outbox(runtime, key)
    info = await registry.provider_info(wallet.address)
    assert info.status == "Approved" and info.collateral == COLLATERAL
    await runtime.indexer.run_once()
    r = await client.get("/api/cloud-operator/provider-requests?status=approved", headers=oper)
    mine = [q for q in (await r.json())["requests"] if q["id"] == request_id]
    assert mine[0]["chain_status"] == "Approved"

    # two nodes; the wallet sends their addNode in reverse order: the link word still pairs them right
    node_body = {
        "wallet": wallet.address,
        "region": "eu-west",
        "country": "DE",
        "resources": {"cpu_millicores": 8000, "memory_mb": 32768, "disk_gb": 500, "bandwidth_mbps": 1000},
        "prices": {"per_cpu_millicore": 20_000, "per_memory_mb": 2_000, "per_disk_gb": 200, "per_gpu": 0},
        "attributes": ["ssd"],
    }
    r = await client.post(
        "/api/cloud-provider/nodes", json=node_body | {"region": "mars-1", "name": "x"}, headers=prov
    )
    assert r.status == 400 and (await r.json())["error"]["code"] == "unknown_region"
    created = []
    for name in ("alpha", "beta"):
        r = await client.post("/api/cloud-provider/nodes", json=node_body | {"name": name}, headers=prov)
        assert r.status == 201, await r.text()
        created.append(await r.json())
    before = await registry.node_count()
    await sign_and_send(runtime, wallet, created[1]["transactions"])
    await sign_and_send(runtime, wallet, created[0]["transactions"])
    await runtime.indexer.run_once()
    nodes = {
        n["name"]: n
        for n in (await (await client.get("/api/cloud-provider/nodes", headers=prov)).json())["nodes"]
    }
    assert nodes["beta"]["chain_node_id"] == before + 1
    assert nodes["alpha"]["chain_node_id"] == before + 2
    assert nodes["alpha"]["status"] == "active"
    assert (await registry.node_info(before + 2)).provider == wallet.address
    # the API shows the chain's payee (addNode(0) makes it the provider), never null once linked
    for name, chain_id in (("alpha", before + 2), ("beta", before + 1)):
        assert nodes[name]["payee"] == (await registry.node_info(chain_id)).payee == wallet.address

    # maintenance: too short a notice is refused up front; a valid window is signed, indexed, reported
    now = int((await conn.w3.eth.get_block("latest"))["timestamp"])
    alpha = nodes["alpha"]["id"]
    r = await client.post(
        "/api/cloud-provider/maintenance",
        headers=prov,
        json={"node_id": alpha, "start": now + 60, "end": now + 600},
    )
    assert r.status == 400 and (await r.json())["error"]["code"] == "maintenance_notice"
    r = await client.post(
        "/api/cloud-provider/maintenance",
        headers=prov,
        json={"node_id": alpha, "start": now + 2 * NOTICE, "end": now + 2 * NOTICE + MAX_WINDOW + 1},
    )
    assert r.status == 400 and (await r.json())["error"]["code"] == "maintenance_too_long"
    start, end = now + 2 * NOTICE, now + 2 * NOTICE + 1_800
    r = await client.post(
        "/api/cloud-provider/maintenance", headers=prov, json={"node_id": alpha, "start": start, "end": end}
    )
    assert r.status == 200, await r.text()
    await sign_and_send(runtime, wallet, (await r.json())["transactions"])
    await runtime.indexer.run_once()
    nodes = {
        n["name"]: n
        for n in (await (await client.get("/api/cloud-provider/nodes", headers=prov)).json())["nodes"]
    }
    assert nodes["alpha"]["maintenance"] == [{"start": start, "end": end, "status": "scheduled"}]
    assert nodes["beta"]["maintenance"] == []
    async with runtime.sessionmaker() as s:
        assert await nodes_in_maintenance(s, start, end) == {alpha}
        assert await nodes_in_maintenance(s, now, start) == set()
        cands = {c.node_id: c for c in await placement_candidates(s, now=start)}
    a, b = cands[str(before + 2)], cands[str(before + 1)]
    assert a.in_maintenance and not b.in_maintenance
    assert a.provider_approved and a.capacity.cpu_millicores == 8000 and a.region == "eu-west"
    assert a.alliance_id is None  # paid to the provider itself: no alliance

    # cancel: the beta node has no window (400 maintenance_none); alpha's window is cancelled on chain
    r = await client.post(
        "/api/cloud-provider/maintenance/cancel", headers=prov, json={"node_id": nodes["beta"]["id"]}
    )
    assert r.status == 400 and (await r.json())["error"]["code"] == "maintenance_none"
    r = await client.post("/api/cloud-provider/maintenance/cancel", headers=prov, json={"node_id": alpha})
    assert r.status == 200, await r.text()
    cancel = await r.json()
    assert cancel["chain_node_id"] == before + 2 and len(cancel["transactions"]) == 1
    await sign_and_send(runtime, wallet, cancel["transactions"])
    await runtime.indexer.run_once()
    listed = (await (await client.get("/api/cloud-provider/nodes", headers=prov)).json())["nodes"]
    assert [n["maintenance"] for n in listed if n["id"] == alpha] == [[]]
    r = await client.post("/api/cloud-provider/maintenance/cancel", headers=prov, json={"node_id": alpha})
    assert r.status == 400 and (await r.json())["error"]["code"] == "maintenance_none"

    # setNodePayee is indexed: the API follows the chain's payee, to an alliance and back to the provider
    alliance = Account.create().address
    for payee in (alliance, wallet.address):
        await send_transaction(
            conn, wallet, to=registry.address, data=registry.encode_set_node_payee(before + 1, payee)
        )
        await runtime.indexer.run_once()
        listed = (await (await client.get("/api/cloud-provider/nodes", headers=prov)).json())["nodes"]
        assert [n["payee"] for n in listed if n["name"] == "beta"] == [payee]
        assert (await registry.node_info(before + 1)).payee == payee
        async with runtime.sessionmaker() as s:
            beta = {c.node_id: c for c in await placement_candidates(s, now=now)}[str(before + 1)]
        assert beta.alliance_id == (None if payee == wallet.address else payee)
