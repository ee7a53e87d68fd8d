"""Issue 10, engine side, on anvil through the HTTP API and the real outbox / indexer / relay / failover:

* emergency pause: the operator pauses the escrow through the outbox; create, top-up and scale-up answer
  503 ``escrow_paused`` and write nothing (row counts before / after); close still works (closed on chain);
  after unpause create works again;
* a node removed on chain under a deployment without a backup: the lease is recorded as stopped (time and
  block), the user is notified once, the payer is handed the close; a top-up leaves the stopped lease out
  (nothing queued, no transaction); the close refunds the rest;
* SLA claims filed / resolved on chain are indexed: the provider's open-claim count shows in its requests;
* a provider suspended on chain: its leases are recorded as stopped, the escrow subscriber fails the replica
  over at once through the existing failover (before the failover job runs), the user is notified, the
  stopped lease is never topped up, the replica ends up on the backup node.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from chain.deploy import send_transaction
from chain.devchain import Anvil
from engine.deployments.models import Deployment, DeploymentTransition, EscrowRequest, Lease
from engine.notifications.models import Notification
from engine.outbox.models import OutboxTx
from engine.scaling import failover
from engine.scaling.jobs import bind
from engine.scaling.models import Failover
from tests.chain.deployments_support import Market, deliver_outbox, market
from tests.chain.test_deployments_flow import send_all, wallet_user
from tests.chain.test_scaling_failover import in_service, managed_user, until

pytestmark = [pytest.mark.anvil, pytest.mark.timeout(300)]  # until() may wait 150 s

DEPLOY = "/api/cloud-user/deployments"
OPERATOR = "/api/cloud-operator"
SPEC = {"command": ["sleep", "600"], "resources": {"cpu_millicores": 500, "memory_mb": 256, "disk_gb": 1}}
COUNTED = (Deployment, Lease, EscrowRequest, OutboxTx, DeploymentTransition)


@pytest.fixture(scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    # Its own anvil (see tests/chain/test_quoted_leases.py): this module pauses the escrow and suspends a
    # provider, which no other module may see.
    async with Anvil() as own_anvil, market(own_anvil, tmp_path_factory.mktemp("stops")) as mk:
        wa, pa, nodes_a = await mk.onboard(
            "dev|st-pa", [{"name": "a1", "region": "eu-west"}, {"name": "a2", "region": "eu-west"}]
        )
        wb, pb, nodes_b = await mk.onboard(
            "dev|st-pb", [{"name": "b1", "region": "us-east"}, {"name": "b2", "region": "us-east"}]
        )
        wallets = {n["id"]: w for w, nodes in ((wa, nodes_a), (wb, nodes_b)) for n in nodes}
        yield {"mk": mk, "provider_of": wallets, "provider_headers": {wa.address: pa, wb.address: pb}}


async def counts(mk: Market) -> dict[str, int]:
    async with mk.runtime.sessionmaker() as s:
        return {
            t.__tablename__: int(await s.scalar(select(func.count()).select_from(t)) or 0) for t in COUNTED
        }


async def set_paused(mk: Market, paused: bool) -> dict[str, Any]:
    oper = mk.headers("cloud-operator", "dev|st-operator")
    path = f"{OPERATOR}/escrow/{'pause' if paused else 'unpause'}"
    got = await mk.call("POST", path, oper, 200)
    assert got["paused"] is paused and got["outbox_key"], got
    await deliver_outbox(mk.runtime, got["outbox_key"])
    assert await mk.escrow.paused() is paused
    return dict(got)


async def notifications(mk: Market, headers: dict[str, str]) -> list[Notification]:
    user_id = await mk.user_id(headers)
    async with mk.runtime.sessionmaker() as s:
        rows = await s.scalars(
            select(Notification).where(Notification.user_id == user_id, Notification.kind == "lease_stopped")
        )
        return list(rows.all())


async def lease_row(mk: Market, lease_id: str) -> Lease:
    async with mk.runtime.sessionmaker() as s:
        row = await s.scalar(select(Lease).where(Lease.chain_lease_id == lease_id))
    assert row is not None
    return row


async def test_a_paused_escrow_refuses_opens_and_top_ups_and_writes_nothing_but_closes_work(
    world: dict[str, Any],
) -> None:
    mk: Market = world["mk"]
    _, managed = await managed_user(mk, "dev|st-pause-managed")
    _, wallet_headers = await wallet_user(mk, "dev|st-pause-wallet", 10**9)
    created = await mk.call("POST", DEPLOY, managed, 201, json={"spec": SPEC, "deposit_per_replica": 60_000})
    dep_id = created["deployment"]["id"]
    (lease,) = in_service(await until(mk, dep_id, managed, "starting"))

    await set_paused(mk, True)
    try:
        before = await counts(mk)
        body = {"spec": SPEC, "deposit_per_replica": 60_000}
        for headers in (managed, wallet_headers):
            refused = await mk.call("POST", DEPLOY, headers, 503, json=body)
            assert refused["error"]["code"] == "escrow_paused", refused
        refused = await mk.call("POST", f"{DEPLOY}/{dep_id}/top-up", managed, 503, json={"amount": 10_000})
        assert refused["error"]["code"] == "escrow_paused"
        refused = await mk.call("POST", f"{DEPLOY}/{dep_id}/scale", managed, 503, json={"replicas": 2})
        assert refused["error"]["code"] == "escrow_paused"
        assert await counts(mk) == before  # nothing written by any of them

        # closes keep working while paused: the managed close is relayed and mined
        closed = await mk.call("POST", f"{DEPLOY}/{dep_id}/close", managed, 200)
        assert closed["deployment"]["status"] == "closing"
        got = await until(mk, dep_id, managed, "closed")
        assert [x["status"] for x in got["leases"]] == ["closed"]
        assert not (await mk.escrow.lease(int(lease["lease_id"]))).open
    finally:
        if await mk.escrow.paused():
            await set_paused(mk, False)

    again = await mk.call("POST", DEPLOY, managed, 201, json={"spec": SPEC, "deposit_per_replica": 60_000})
    assert (await until(mk, again["deployment"]["id"], managed, "starting"))["status"] == "starting"


async def test_a_removed_node_stops_its_lease_which_is_not_topped_up_and_can_be_closed(
    world: dict[str, Any],
) -> None:
    mk: Market = world["mk"]
    wallet, user = await wallet_user(mk, "dev|st-removed", 10**9)
    created = await mk.call("POST", DEPLOY, user, 201, json={"spec": SPEC, "deposit_per_replica": 60_000})
    dep_id = created["deployment"]["id"]
    (quoted,) = created["deployment"]["leases"]
    assert quoted["quote_expiry"] > await mk.now()  # the signed quote's expiry is stored on the row
    await send_all(mk, wallet, created["transactions"])
    (lease,) = in_service(await until(mk, dep_id, user, "starting"))
    assert lease["stopped_at"] is None and lease["quote_expiry"] == quoted["quote_expiry"]

    owner = world["provider_of"][lease["node_id"]]
    registry = mk.runtime.contracts.require_registry()
    receipt = await send_transaction(
        mk.runtime.chain, owner, to=registry.address, data=registry.encode_remove_node(lease["chain_node_id"])
    )
    removed_at = int((await mk.runtime.chain.w3.eth.get_block(receipt["blockNumber"]))["timestamp"])
    await mk.warp(120)
    await mk.sync()

    got = await mk.call("GET", f"{DEPLOY}/{dep_id}", user, 200)
    (stopped,) = [x for x in got["leases"] if x["lease_id"] == lease["lease_id"]]
    assert stopped["stopped_at"] == removed_at and stopped["stopped_block"] == receipt["blockNumber"]
    assert stopped["status"] == "open"  # open on chain until the payer closes it
    (note,) = [t for t in got["transitions"] if "stopped charging" in t["reason"]]
    assert "close the lease" in note["reason"]
    async with mk.runtime.sessionmaker() as s:
        row = await s.scalar(
            select(DeploymentTransition).where(
                DeploymentTransition.deployment_id == dep_id,
                DeploymentTransition.reason.contains("stopped charging"),
            )
        )
    assert row is not None and row.transactions is not None
    (offered,) = row.transactions
    assert offered["data"] == "0x" + mk.escrow.encode_close(int(lease["lease_id"])).hex()
    (told,) = await notifications(mk, user)
    assert told.dedupe_key == f"lease_stopped:{lease['lease_id']}" and told.payload["failover"] is False

    # the engine never tops the stopped lease up: no open lease is left to fund, nothing is written
    before = await counts(mk)
    refused = await mk.call("POST", f"{DEPLOY}/{dep_id}/top-up", user, 409, json={"amount": 10_000})
    assert refused["error"]["code"] == "wrong_state"
    assert await counts(mk) == before

    # the payer closes it as usual: the rest comes back; the close's LeaseStopped changes nothing more
    balance = await mk.token.balance_of(wallet.address)
    closing = await mk.call("POST", f"{DEPLOY}/{dep_id}/close", user, 200)
    (close,) = closing["transactions"]
    assert close["data"] == offered["data"]
    await send_all(mk, wallet, [close])
    assert await mk.token.balance_of(wallet.address) > balance
    got = await until(mk, dep_id, user, "closed")
    row_after = await lease_row(mk, lease["lease_id"])
    assert row_after.status == "closed" and row_after.stopped_at == removed_at
    assert len(await notifications(mk, user)) == 1


async def test_sla_claims_are_indexed_and_counted_on_the_providers_requests(world: dict[str, Any]) -> None:
    mk: Market = world["mk"]
    provider, headers = next(iter(world["provider_headers"].items()))
    registry = mk.runtime.contracts.require_registry()

    async def open_claims() -> int:
        got = await mk.call("GET", "/api/cloud-provider/provider-requests", headers, 200)
        (req,) = got["requests"]
        return int(req["open_claims"])

    assert await open_claims() == 0
    refs = [b"\xc1" * 32, b"\xc2" * 32]
    for ref in refs:
        await mk.admin_send(registry.address, registry.encode_raise_claim(provider, ref), "test.claim")
    await mk.sync()
    assert await open_claims() == 2
    await mk.admin_send(registry.address, registry.encode_dismiss_claim(refs[0]), "test.dismiss")
    await mk.sync()
    await mk.sync()  # a replayed range changes nothing
    assert await open_claims() == 1
    await mk.admin_send(registry.address, registry.encode_dismiss_claim(refs[1]), "test.dismiss")
    await mk.sync()
    assert await open_claims() == 0


async def test_a_suspended_provider_stops_the_lease_and_the_replica_fails_over_at_once(
    world: dict[str, Any],
) -> None:
    mk: Market = world["mk"]
    payer, headers = await managed_user(mk, "dev|st-suspended")
    spec = SPEC | {"backup": {"enabled": True, "different_region": True}}
    created = await mk.call("POST", DEPLOY, headers, 201, json={"spec": spec, "deposit_per_replica": 60_000})
    dep_id = created["deployment"]["id"]
    got = await until(mk, dep_id, headers, "starting")
    (primary,) = in_service(got)
    (backup,) = [x for x in got["leases"] if x["role"] == "backup"]
    assert primary["quote_expiry"] is not None  # the relay stored the quote it signed
    provider = world["provider_of"][primary["node_id"]]
    assert provider != world["provider_of"][backup["node_id"]]  # different regions: different providers
    count0 = await mk.escrow.lease_count()

    registry = mk.runtime.contracts.require_registry()
    await mk.admin_send(
        registry.address, registry.encode_suspend_provider(provider.address, b"\x5a" * 32), "test.suspend"
    )
    await mk.sync()  # ProviderSuspended + ProviderDeactivated indexed: stop recorded, failover started

    dead = await lease_row(mk, primary["lease_id"])
    assert dead.stopped_at is not None and dead.stopped_block is not None
    async with mk.runtime.sessionmaker() as s:
        (row,) = (await s.scalars(select(Failover).where(Failover.deployment_id == dep_id))).all()
    # started by the escrow subscriber during that indexer pass: no failover job has run
    assert row.from_lease_row_id == dead.id and "suspended on chain" in row.reason
    (told,) = await notifications(mk, headers)
    assert told.payload["failover"] is True and told.payload["lease_id"] == primary["lease_id"]

    deps = bind(mk.runtime.context).failover_deps
    sm, hub = mk.runtime.sessionmaker, mk.runtime.hub

    async def step() -> None:
        await failover.run(sm, hub, deps)

    got = await until(mk, dep_id, headers, "failing-over", step)
    (moved,) = in_service(got)
    assert moved["node_id"] == backup["node_id"] and moved["lease_id"] != primary["lease_id"]
    assert await mk.escrow.lease_count() == count0 + 1
    assert not (await mk.escrow.lease(int(primary["lease_id"]))).open

    # a top-up now funds only the lease in service; the stopped one never got a top-up
    await mk.call("POST", f"{DEPLOY}/{dep_id}/top-up", headers, 200, json={"amount": 10_000})
    async with mk.runtime.sessionmaker() as s:
        topped = (
            await s.scalars(
                select(EscrowRequest.lease_row_id).where(
                    EscrowRequest.payer == payer, EscrowRequest.kind == "top_up"
                )
            )
        ).all()
    moved_row = await lease_row(mk, moved["lease_id"])
    assert topped == [moved_row.id] and dead.id not in topped
    assert len(await notifications(mk, headers)) == 1
