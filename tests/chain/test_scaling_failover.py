"""Scaling and backup failover on anvil, through the HTTP API and the real relay/outbox/indexer.

* managed wallet: scale 1 -> 3 opens exactly two new leases on distinct nodes (on chain), 3 -> 1 closes
  exactly those two (highest indexes first);
* wallet-connected payer: scale returns the unsigned open / close txs, which open / close the right leases;
* failover after missed heartbeats: triggered twice concurrently and again later -> one failover, one new
  lease on the backup node (on chain), the dead lease closed, the backup node's long-poll lists the
  workload and the dead node's does not, failing-over -> running once the backup reports running.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from chain.devchain import Anvil
from engine.deployments.models import Lease
from engine.scaling import failover
from engine.scaling.jobs import bind
from engine.scaling.models import Failover
from engine.wallets.services import ensure_managed_wallet
from engine.workloads.heartbeats import LivenessPolicy, utcnow
from engine.workloads.models import NodeLiveness
from tests.chain.deployments_support import HEARTBEAT, Market, market, two_providers
from tests.chain.test_deployments_flow import send_all, wallet_user

pytestmark = [pytest.mark.anvil, pytest.mark.timeout(300)]  # until() may wait 150 s

DEPLOY = "/api/cloud-user/deployments"
SPEC = {"command": ["sleep", "600"], "resources": {"cpu_millicores": 500, "memory_mb": 256, "disk_gb": 1}}


@pytest.fixture(scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    # Its own anvil: the session anvil's backend signer is also used by other modules' runtimes, each with
    # its own database (so its own outbox nonce row); a nonce one of them took would make this module's
    # outbox wait out its foreign-nonce grace (30 s), longer than the bounded loops here. In production one
    # key belongs to one outbox.
    async with Anvil() as own_anvil, market(own_anvil, tmp_path_factory.mktemp("scaling")) as mk:
        nodes, tokens, _ = await two_providers(mk, "sc")
        yield {"mk": mk, "tokens": tokens, "nodes": nodes}


async def managed_user(mk: Market, sub: str) -> tuple[str, dict[str, str]]:
    assert mk.runtime.relay is not None
    headers = mk.headers("cloud-user", sub)
    async with mk.runtime.sessionmaker() as s:
        row = await ensure_managed_wallet(s, await mk.user_id(headers), mk.runtime.relay.keyring)
        await s.commit()
        address = row.address
    await mk.mint(address, 10**9)
    return address, headers


async def until(
    mk: Market, dep_id: int, headers: dict[str, str], want: str, step: Any = None, seconds: float = 150
) -> Any:
    # bounded by time, not by passes: on a loaded machine a pass may find nothing mined yet. 150 s, not 60:
    # a managed close on the shared session anvil once took longer than 60 s in a fresh-clone run (as in
    # test_sla; cause not found: the sender's 30 s grace for a foreign nonce of the shared dev key?)
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        await mk.sync()
        if step is not None:
            await step()
        got = await mk.call("GET", f"{DEPLOY}/{dep_id}", headers, 200)
        if got["status"] == want and all(
            x["status"] not in ("awaiting_funds", "retiring") for x in got["leases"]
        ):
            return got
        await asyncio.sleep(0.05)
    raise AssertionError(got)


def in_service(dep: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted(
        (x for x in dep["leases"] if x["role"] == "primary" and x["status"] == "open"),
        key=lambda x: x["replica_index"],
    )


async def test_managed_scale_1_3_1_opens_and_closes_the_right_leases(world: dict[str, Any]) -> None:
    mk: Market = world["mk"]
    _, headers = await managed_user(mk, "dev|sc-managed")
    created = await mk.call("POST", DEPLOY, headers, 201, json={"spec": SPEC, "deposit_per_replica": 60_000})
    dep_id = created["deployment"]["id"]
    first = in_service(await until(mk, dep_id, headers, "starting"))
    count0 = await mk.escrow.lease_count()

    up = await mk.call("POST", f"{DEPLOY}/{dep_id}/scale", headers, 200, json={"replicas": 3})
    assert up["transactions"] == [] and up["deployment"]["status"] == "funding"
    got = await until(mk, dep_id, headers, "starting")
    three = in_service(got)
    assert [x["replica_index"] for x in three] == [0, 1, 2] and three[0]["lease_id"] == first[0]["lease_id"]
    assert len({x["chain_node_id"] for x in three}) == 3  # anti-affinity: distinct nodes
    assert await mk.escrow.lease_count() == count0 + 2  # exactly two new leases on chain
    for x in three:
        info = await mk.escrow.lease(int(x["lease_id"]))
        assert info.open and info.node_id == x["chain_node_id"]

    down = await mk.call("POST", f"{DEPLOY}/{dep_id}/scale", headers, 200, json={"replicas": 1})
    assert down["transactions"] == []
    got = await until(mk, dep_id, headers, "starting")
    assert [x["lease_id"] for x in in_service(got)] == [first[0]["lease_id"]]
    assert await mk.escrow.lease_count() == count0 + 2  # nothing opened by the scale-down
    assert (await mk.escrow.lease(int(first[0]["lease_id"]))).open
    for x in three[1:]:
        assert not (await mk.escrow.lease(int(x["lease_id"]))).open  # closed on chain
    retired = [x for x in got["leases"] if x["role"] == "retired"]
    assert sorted(x["lease_id"] for x in retired) == sorted(x["lease_id"] for x in three[1:])
    assert all(x["status"] == "closed" for x in retired)
    reasons = [t["reason"] for t in got["transitions"]]
    assert any("1 -> 3 replicas" in r for r in reasons) and any("removed replicas 2, 1" in r for r in reasons)
    # beyond the operator's max_replicas (10 by default): refused, nothing written
    bad = await mk.client.post(f"{DEPLOY}/{dep_id}/scale", headers=headers, json={"replicas": 11})
    assert bad.status == 400, await bad.text()


async def test_wallet_user_scale_returns_the_unsigned_txs(world: dict[str, Any]) -> None:
    mk: Market = world["mk"]
    wallet, headers = await wallet_user(mk, "dev|sc-wallet", 10**9)
    created = await mk.call("POST", DEPLOY, headers, 201, json={"spec": SPEC, "deposit_per_replica": 60_000})
    dep_id = created["deployment"]["id"]
    await send_all(mk, wallet, created["transactions"])
    first = in_service(await until(mk, dep_id, headers, "starting"))
    count0 = await mk.escrow.lease_count()

    up = await mk.call("POST", f"{DEPLOY}/{dep_id}/scale", headers, 200, json={"replicas": 2})
    opens = [t for t in up["transactions"] if t["to"] == mk.escrow.address]
    assert len(opens) == 1 and opens[0]["description"] == "open the lease of replica 1"
    assert all(t["from"] == wallet.address for t in up["transactions"])
    await send_all(mk, wallet, up["transactions"])
    two = in_service(await until(mk, dep_id, headers, "starting"))
    assert await mk.escrow.lease_count() == count0 + 1
    assert len({x["chain_node_id"] for x in two}) == 2

    down = await mk.call("POST", f"{DEPLOY}/{dep_id}/scale", headers, 200, json={"replicas": 1})
    (close,) = down["transactions"]
    assert close["data"] == "0x" + mk.escrow.encode_close(int(two[1]["lease_id"])).hex()
    await send_all(mk, wallet, down["transactions"])
    got = await until(mk, dep_id, headers, "starting")
    assert [x["lease_id"] for x in in_service(got)] == [first[0]["lease_id"]]
    assert not (await mk.escrow.lease(int(two[1]["lease_id"]))).open


async def test_failover_after_missed_heartbeats_is_idempotent(world: dict[str, Any]) -> None:
    mk: Market = world["mk"]
    tokens = world["tokens"]
    _, headers = await managed_user(mk, "dev|sc-failover")
    spec = SPEC | {"backup": {"enabled": True, "different_region": False}}
    created = await mk.call("POST", DEPLOY, headers, 201, json={"spec": spec, "deposit_per_replica": 60_000})
    dep_id = created["deployment"]["id"]
    got = await until(mk, dep_id, headers, "starting")
    (primary,) = in_service(got)
    (backup,) = [x for x in got["leases"] if x["role"] == "backup"]
    dead_node, spare_node = primary["node_id"], backup["node_id"]
    count0 = await mk.escrow.lease_count()

    deps = failover.FailoverDeps(
        **{**bind(mk.runtime.context).failover_deps.__dict__, "liveness": LivenessPolicy(offline_after=60)}
    )
    # the spare is alive (fresh heartbeat); the primary's agent went silent two minutes ago
    await mk.call(
        "POST", f"/api/cloud-provider/nodes/{spare_node}/heartbeat", tokens[spare_node], 200, json=HEARTBEAT
    )
    async with mk.runtime.sessionmaker() as s, s.begin():
        await s.execute(
            update(NodeLiveness)
            .where(NodeLiveness.node_id == dead_node)
            .values(last_seen_at=utcnow() - timedelta(seconds=120))
        )
    sm, hub = mk.runtime.sessionmaker, mk.runtime.hub
    row_id = await _row_id(mk, primary)
    results = await asyncio.gather(
        failover.trigger(sm, hub, deps, row_id, "missed heartbeats"),
        failover.trigger(sm, hub, deps, row_id, "missed heartbeats"),
        failover.run(sm, hub, deps),
    )
    assert sum(r is not None for r in results[:2]) + results[2]["started"] == 1
    assert (await failover.run(sm, hub, deps))["started"] == 0  # a second check: no second failover
    async with sm() as s:
        assert (
            await s.scalar(select(func.count()).select_from(Failover).where(Failover.deployment_id == dep_id))
            == 1
        )

    # the dead node's desired set lost the workload at once
    dead_poll = await mk.call(
        "GET", f"/api/cloud-provider/nodes/{dead_node}/workloads", tokens[dead_node], 200
    )
    assert [w for w in dead_poll["workloads"] if w["deployment_id"] == dep_id] == []

    async def step() -> None:
        await failover.run(sm, hub, deps)

    got = await until(mk, dep_id, headers, "failing-over", step)
    assert await mk.escrow.lease_count() == count0 + 1  # exactly one new lease: the backup's
    assert not (await mk.escrow.lease(int(primary["lease_id"]))).open
    (moved,) = in_service(got)
    assert (
        moved["replica_index"] == 0
        and moved["node_id"] == spare_node
        and moved["lease_id"] != primary["lease_id"]
    )
    info = await mk.escrow.lease(int(moved["lease_id"]))
    assert info.open and info.node_id == backup["chain_node_id"]

    poll = await mk.call("GET", f"/api/cloud-provider/nodes/{spare_node}/workloads", tokens[spare_node], 200)
    (w,) = [w for w in poll["workloads"] if w["deployment_id"] == dep_id]
    assert w["workload_id"] == f"d{dep_id}-r0" and w["lease_id"] == moved["lease_id"]
    dead_poll = await mk.call(
        "GET", f"/api/cloud-provider/nodes/{dead_node}/workloads", tokens[dead_node], 200
    )
    assert [w for w in dead_poll["workloads"] if w["deployment_id"] == dep_id] == []

    beat = HEARTBEAT | {
        "workloads": [
            {
                "workload_id": w["workload_id"],
                "lease_id": w["lease_id"],
                "state": "running",
                "restarts": 0,
                "cpu_seconds": 1,
                "rss_bytes": 1000,
                "exit_code": None,
                "reason": None,
            }
        ]
    }
    await mk.call(
        "POST", f"/api/cloud-provider/nodes/{spare_node}/heartbeat", tokens[spare_node], 200, json=beat
    )
    await failover.run(sm, hub, deps)
    got = await mk.call("GET", f"{DEPLOY}/{dep_id}", headers, 200)
    assert got["status"] == "running", got
    statuses = [t["to"] for t in got["transitions"]]
    assert "failing-over" in statuses and statuses[-1] == "running"
    assert statuses.index("failing-over") < len(statuses) - 1
    assert await mk.escrow.lease_count() == count0 + 1


async def _row_id(mk: Market, lease: dict[str, Any]) -> int:
    async with mk.runtime.sessionmaker() as s:
        found = await s.scalar(select(Lease.id).where(Lease.chain_lease_id == lease["lease_id"]))
    assert found is not None
    return int(found)
