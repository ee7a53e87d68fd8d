"""Provider alliances end to end on anvil, through the HTTP API, with provider wallets that sign what the API
returns: two providers form an alliance (propose, invite, accept), contribute one node each (payee moved to
the splits contract, weight = capacity units), a user's lease on one node is settled and its earnings
collected into the alliance, and both members claim exactly their weight's share (integers, dust counted).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from api.app import create_app
from api.auth.devissuer import DevIssuer
from api.routes import identity
from chain.alliances import ACC_SCALE
from chain.contracts import CreditTokenClient, EscrowClient, RegistryClient
from chain.deploy import send_transaction
from chain.devchain import Anvil, rpc
from chain.signer import LocalSigner
from engine.identity.services import link_wallet
from engine.runtime import Runtime, start_runtime
from engine.settings import Settings
from tests.api.conftest import serve

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
