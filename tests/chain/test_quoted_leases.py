"""Issue 10 on anvil, through the HTTP API and the real outbox / indexer / failover job:

* the unsigned ``open`` the API hands a wallet-connected payer carries the engine's quote: the payer who
  edits its rate gets ``InvalidQuote`` from the chain (a mined, reverted transaction); the unedited one opens;
* a ``LeaseOpened`` that is not the quoted lease (the quote key signed another rate, the payer used it) is
  rejected by the indexer: the node's long-poll never offers the workload, the deployment is not started,
  the payer is handed the close and gets the rest back;
* a node removed on chain stops its lease charging at once, and the deployment fails over to its backup
  (the dead lease closed through the relay and the outbox, the backup's lease opened).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from eth_abi.abi import decode as abi_decode
from sqlalchemy import select

from chain.deploy import send_transaction
from chain.devchain import Anvil, rpc
from chain.errors import ContractRevert
from chain.signer import LocalSigner
from engine.deployments.models import DeploymentTransition, Lease
from engine.outbox.models import OutboxTx
from engine.scaling import failover
from engine.scaling.jobs import bind
from engine.wallets.services import load_account
from tests.chain.deployments_support import Market, market, two_providers
from tests.chain.test_deployments_flow import opened_events, send_all, wallet_user
from tests.chain.test_scaling_failover import in_service, managed_user, until

pytestmark = [pytest.mark.anvil, pytest.mark.timeout(300)]  # until() may wait 150 s

DEPLOY = "/api/cloud-user/deployments"
SPEC = {"command": ["sleep", "600"], "resources": {"cpu_millicores": 500, "memory_mb": 256, "disk_gb": 1}}


@pytest.fixture(scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    # Its own anvil: the session anvil's backend signer is also used by other modules' runtimes, each with
    # its own database (so its own outbox nonce row); a nonce one of them took would make this module's
    # outbox wait out its foreign-nonce grace (30 s), longer than the bounded loops here. In production one
    # key belongs to one outbox.
    async with Anvil() as own_anvil, market(own_anvil, tmp_path_factory.mktemp("quoted")) as mk:
        nodes, tokens, wallets = await two_providers(mk, "q")
        yield {"mk": mk, "tokens": tokens, "nodes": nodes, "provider_of": wallets}


def _open_args(mk: Market, data_hex: str) -> list[Any]:
    fn = mk.escrow.function("open", 5)
    data = bytes.fromhex(data_hex[2:])
    assert data[:4] == fn.selector
    return list(abi_decode(list(fn.input_types), data[4:]))


async def test_an_edited_rate_reverts_on_chain_and_the_quoted_open_goes_through(
    world: dict[str, Any],
) -> None:
    mk: Market = world["mk"]
    wallet, user = await wallet_user(mk, "dev|q-edit", 10**9)
    created = await mk.call("POST", DEPLOY, user, 201, json={"spec": SPEC, "deposit_per_replica": 50_000})
    dep = created["deployment"]
    *approve, opener = created["transactions"]
    await send_all(mk, wallet, approve)
    node, rate, deposit, spec, quote = _open_args(mk, opener["data"])
    assert rate == dep["leases"][0]["rate_per_second"] and node == dep["leases"][0]["chain_node_id"]
    assert quote[0] > await mk.now()  # expiry: chain time + quote_ttl
    count0 = await mk.escrow.lease_count()

    for edited in (
        (node, max(1, rate // 1000), deposit, spec, quote),  # 1/1000 of the price
        (node, rate, deposit, b"\x22" * 32, quote),  # another spec
        ((node % 4) + 1 if node != 1 else 2, rate, deposit, spec, quote),  # another node
    ):
        data = mk.escrow.function("open", 5).encode(list(edited))
        with pytest.raises(ContractRevert) as info:  # a fixed gas limit: mined, and reverted on chain
            await send_transaction(mk.runtime.chain, wallet, to=mk.escrow.address, data=data, gas=400_000)
        assert info.value.error == "InvalidQuote" and info.value.tx_hash
    assert await mk.escrow.lease_count() == count0

    (receipt,) = await send_all(mk, wallet, [opener])
    (ev,) = opened_events(mk, receipt)
    assert ev["args"]["ratePerSecond"] == rate
    await mk.sync()
    got = await mk.call("GET", f"{DEPLOY}/{dep['id']}", user, 200)
    assert got["status"] == "starting" and got["leases"][0]["status"] == "open"


async def test_a_lease_at_other_terms_than_quoted_never_starts(world: dict[str, Any]) -> None:
    mk: Market = world["mk"]
    tokens = world["tokens"]
    wallet, user = await wallet_user(mk, "dev|q-unquoted", 10**9)
    created = await mk.call("POST", DEPLOY, user, 201, json={"spec": SPEC, "deposit_per_replica": 50_000})
    dep = created["deployment"]
    *approve, opener = created["transactions"]
    await send_all(mk, wallet, approve)
    node, rate, deposit, spec, _quote = _open_args(mk, opener["data"])
    # a quote the engine's key really signed, but for another rate (e.g. an older quote): the escrow
    # accepts it, the indexer must not
    quoter = mk.runtime.context.require_quoter()
    cheap = quoter.sign(quoter.quote(wallet.address, node, rate - 1, spec, now=await mk.now()))
    data = mk.escrow.encode_open(node, rate - 1, deposit, spec, cheap)
    receipt = await send_transaction(mk.runtime.chain, wallet, to=mk.escrow.address, data=data)
    (ev,) = opened_events(mk, receipt)
    lease_id = int(ev["args"]["leaseId"])
    assert (await mk.escrow.lease(lease_id)).open

    await mk.sync()
    got = await mk.call("GET", f"{DEPLOY}/{dep['id']}", user, 200)
    assert got["status"] == "funding", got  # not started
    (rogue,) = [x for x in got["leases"] if x["lease_id"] == str(lease_id)]
    assert rogue["status"] == "orphaned" and rogue["retired"] and rogue["role"] == "retired"
    (quoted,) = [x for x in got["leases"] if not x["retired"]]
    assert quoted["status"] == "awaiting_funds" and quoted["lease_id"] is None  # still waits for its open
    node_id = rogue["node_id"]
    poll = await mk.call("GET", f"/api/cloud-provider/nodes/{node_id}/workloads", tokens[node_id], 200)
    assert [w for w in poll["workloads"] if w["deployment_id"] == dep["id"]] == []
    (rejected,) = [t for t in got["transitions"] if "rejected" in t["reason"]]
    assert "rate" in rejected["reason"]
    async with mk.runtime.sessionmaker() as s:  # the close is handed to the payer with that transition
        (row,) = (
            await s.scalars(
                select(DeploymentTransition).where(
                    DeploymentTransition.deployment_id == dep["id"],
                    DeploymentTransition.reason.contains("rejected"),
                )
            )
        ).all()
    (close,) = row.transactions or []
    assert close["data"] == "0x" + mk.escrow.encode_close(lease_id).hex()

    before = await mk.token.balance_of(wallet.address)
    await send_all(mk, wallet, [close])
    assert not (await mk.escrow.lease(lease_id)).open
    assert await mk.token.balance_of(wallet.address) > before  # the rest came back
    await mk.sync()
    got = await mk.call("GET", f"{DEPLOY}/{dep['id']}", user, 200)
    assert [x["status"] for x in got["leases"] if x["retired"]] == ["closed"] and got["status"] == "funding"

    # the quoted open still works (a new allowance: the rogue open used it): that lease, and only it, runs
    await send_all(mk, wallet, approve)
    (receipt,) = await send_all(mk, wallet, [opener])
    (ev,) = opened_events(mk, receipt)
    await mk.sync()
    got = await mk.call("GET", f"{DEPLOY}/{dep['id']}", user, 200)
    assert got["status"] == "starting", got
    poll = await mk.call("GET", f"/api/cloud-provider/nodes/{node_id}/workloads", tokens[node_id], 200)
    assert [w["lease_id"] for w in poll["workloads"] if w["deployment_id"] == dep["id"]] == [
        str(ev["args"]["leaseId"])
    ]


async def test_a_managed_payers_lease_at_other_terms_is_closed_through_the_outbox(
    world: dict[str, Any],
) -> None:
    mk: Market = world["mk"]
    tokens = world["tokens"]
    assert mk.runtime.relay is not None
    payer, headers = await managed_user(mk, "dev|q-managed")
    created = await mk.call("POST", DEPLOY, headers, 201, json={"spec": SPEC, "deposit_per_replica": 50_000})
    dep = created["deployment"]
    (quoted,) = dep["leases"]
    node, rate = quoted["chain_node_id"], quoted["rate_per_second"]
    spec = bytes.fromhex(dep["spec_hash"][2:])
    # before the relayed openBySig is sent, the managed key itself opens at another (really quoted) rate
    async with mk.runtime.sessionmaker() as s:
        account = await load_account(s, await mk.user_id(headers), mk.runtime.relay.keyring)
    assert account.address == payer
    key = LocalSigner(account.key.hex())
    await rpc(mk.runtime.chain, "anvil_setBalance", payer, hex(10**19))
    await send_transaction(
        mk.runtime.chain, key, to=mk.token.address, data=mk.token.encode_approve(mk.escrow.address, 50_000)
    )
    quoter = mk.runtime.context.require_quoter()
    cheap = quoter.sign(quoter.quote(payer, node, rate - 1, spec, now=await mk.now()))
    receipt = await send_transaction(
        mk.runtime.chain,
        key,
        to=mk.escrow.address,
        data=mk.escrow.encode_open(node, rate - 1, 50_000, spec, cheap),
    )
    (ev,) = opened_events(mk, receipt)
    rogue_id = int(ev["args"]["leaseId"])
    before = await mk.token.balance_of(payer)

    got = await until(mk, dep["id"], headers, "starting")  # the relayed, quoted open goes through
    assert not (await mk.escrow.lease(rogue_id)).open  # the rogue one was closed by closeBySig
    async with mk.runtime.sessionmaker() as s:
        kinds = (
            await s.scalars(select(OutboxTx.kind).where(OutboxTx.args["payer"].as_string() == payer))
        ).all()
        rogue = await s.scalar(select(Lease).where(Lease.chain_lease_id == str(rogue_id)))
    assert sorted(kinds) == ["escrow.closeBySig", "escrow.openBySig"]
    assert rogue is not None and rogue.status == "closed" and rogue.role == "retired"
    assert rogue.refund is not None and rogue.refund > 0
    assert await mk.token.balance_of(payer) >= before + rogue.refund - 50_000  # refunded, the quoted paid
    (honest,) = [x for x in got["leases"] if not x["retired"]]
    assert honest["status"] == "open" and honest["lease_id"] != str(rogue_id)
    node_id = honest["node_id"]
    poll = await mk.call("GET", f"/api/cloud-provider/nodes/{node_id}/workloads", tokens[node_id], 200)
    assert [w["lease_id"] for w in poll["workloads"] if w["deployment_id"] == dep["id"]] == [
        honest["lease_id"]
    ]


async def test_a_node_removed_on_chain_stops_charging_and_the_deployment_fails_over(
    world: dict[str, Any],
) -> None:
    mk: Market = world["mk"]
    tokens = world["tokens"]
    _, headers = await managed_user(mk, "dev|q-removed")
    spec = SPEC | {"backup": {"enabled": True, "different_region": False}}
    created = await mk.call("POST", DEPLOY, headers, 201, json={"spec": spec, "deposit_per_replica": 60_000})
    dep_id = created["deployment"]["id"]
    got = await until(mk, dep_id, headers, "starting")
    (primary,) = in_service(got)
    (backup,) = [x for x in got["leases"] if x["role"] == "backup"]
    for n in (primary["node_id"], backup["node_id"]):  # both agents alive: only the chain says stop
        await mk.call(
            "POST",
            f"/api/cloud-provider/nodes/{n}/heartbeat",
            tokens[n],
            200,
            json={
                "resources": {"cpu_millicores_used": 0, "memory_mb_used": 0, "disk_gb_used": 0},
                "workloads": [],
                "agent": {"version": "test"},
            },
        )
    deps = bind(mk.runtime.context).failover_deps
    sm, hub = mk.runtime.sessionmaker, mk.runtime.hub
    assert (await failover.run(sm, hub, deps))["started"] == 0  # nothing wrong yet

    owner = world["provider_of"][primary["node_id"]]
    dead_chain_node = primary["chain_node_id"]
    await send_transaction(
        mk.runtime.chain,
        owner,
        to=mk.runtime.contracts.require_registry().address,
        data=mk.runtime.contracts.require_registry().encode_remove_node(dead_chain_node),
    )
    dead_lease = int(primary["lease_id"])
    due_at_removal = await mk.escrow.due_now(dead_lease)
    await mk.warp(600)
    assert await mk.escrow.due_now(dead_lease) == due_at_removal  # stopped charging
    await mk.sync()  # NodeRemoved indexed: the node is removed

    async def step() -> None:
        await failover.run(sm, hub, deps)

    got = await until(mk, dep_id, headers, "failing-over", step)
    dead = await mk.escrow.lease(dead_lease)
    assert not dead.open
    (moved,) = in_service(got)
    assert moved["node_id"] == backup["node_id"] and moved["lease_id"] != primary["lease_id"]
    info = await mk.escrow.lease(int(moved["lease_id"]))
    assert info.open and info.node_id == backup["chain_node_id"]
    async with sm() as s:
        closed = await s.scalar(select(Lease).where(Lease.chain_lease_id == str(dead_lease)))
    assert closed is not None and closed.status == "closed"
    assert closed.refund is not None and closed.refund > 0
    reasons = [t["reason"] for t in got["transitions"]]
    assert any("removed on chain" in r for r in reasons), reasons
