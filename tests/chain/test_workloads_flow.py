"""Node agent protocol on anvil through the HTTP API: a node heartbeats (so placement sees it online),
holds a long-poll, the user deploys and signs the escrow open, the indexer commits ``LeaseOpened`` and the
held poll answers with the workload whose spec hash and node match the chain's ``LeaseOpened`` log; the
user closes and the next held poll answers with the workload gone. The SSE stream shows the transitions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete
from web3.logs import DISCARD

from chain.devchain import Anvil
from engine.workloads.models import NodeLiveness
from tests.chain.deployments_support import Market, market
from tests.chain.test_deployments_flow import send_all, wallet_user

pytestmark = pytest.mark.anvil

SPEC = {
    "command": ["sleep", "600"],
    "resources": {"cpu_millicores": 500, "memory_mb": 256, "disk_gb": 1},
    "regions": ["ap-east"],
}
BEAT = {
    "resources": {"cpu_millicores_used": 0, "memory_mb_used": 0, "disk_gb_used": 0},
    "workloads": [],
    "agent": {"version": "flow-test"},
}


@pytest.fixture(scope="module")
async def mk(anvil: Anvil, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Market]:
    async with market(anvil, tmp_path_factory.mktemp("workloads")) as mk:
        yield mk


async def test_lease_open_on_chain_wakes_the_nodes_poll(mk: Market) -> None:
    _, prov, (node,) = await mk.onboard("dev|wl-p1", [{"name": "east", "region": "ap-east"}])
    issued = await mk.call("POST", f"/api/cloud-provider/nodes/{node['id']}/tokens", prov, 201)
    agent = {"Authorization": f"Bearer {issued['token']}"}
    url = f"/api/cloud-provider/nodes/{node['id']}/workloads"
    wallet, user = await wallet_user(mk, "dev|wl-user", 10**9)

    # no heartbeat (none yet, or forgotten here): the node is offline and nothing can be placed on it
    async with mk.runtime.sessionmaker() as s, s.begin():
        await s.execute(delete(NodeLiveness).where(NodeLiveness.node_id == node["id"]))
    refused = await mk.client.post(
        "/api/cloud-user/deployments", headers=user, json={"spec": SPEC, "duration_seconds": 600}
    )
    assert refused.status == 409, await refused.text()
    assert (await mk.call("POST", url.replace("workloads", "heartbeat"), agent, 200, json=BEAT))["ok"]

    first = await mk.call("GET", url, agent, 200)
    assert first["workloads"] == []
    held = asyncio.create_task(mk.call("GET", url + f"?wait=60&cursor={first['cursor']}", agent, 200))
    created = await mk.call(
        "POST", "/api/cloud-user/deployments", user, 201, json={"spec": SPEC, "duration_seconds": 600}
    )
    dep = created["deployment"]
    receipts = await send_all(mk, wallet, created["transactions"])
    await asyncio.sleep(0.05)
    assert not held.done()  # awaiting funds is not runnable; the open is not indexed yet
    await mk.runtime.indexer.run_once()  # commits LeaseOpened, then publishes node:<id>
    got = await asyncio.wait_for(held, 30)
    assert got["changed"] is True
    (w,) = got["workloads"]
    contract = mk.runtime.chain.w3.eth.contract(address=mk.escrow.address, abi=mk.escrow.artifact.abi)
    (ev,) = contract.events.LeaseOpened().process_receipt(receipts[-1], errors=DISCARD)
    assert w["lease_id"] == str(ev["args"]["leaseId"]) and w["workload_id"] == f"d{dep['id']}-r0"
    assert w["spec_hash"] == "0x" + ev["args"]["specHash"].hex() == dep["spec_hash"]
    assert w["chain_node_id"] == ev["args"]["nodeId"] == node["chain_node_id"]
    assert w["command"] == ["sleep", "600"]

    held = asyncio.create_task(mk.call("GET", url + f"?wait=60&cursor={got['cursor']}", agent, 200))
    await asyncio.sleep(0.05)
    closed = await mk.call("POST", f"/api/cloud-user/deployments/{dep['id']}/close", user, 200)
    assert closed["deployment"]["status"] == "closing"
    gone = await asyncio.wait_for(held, 30)
    assert gone["changed"] is True and gone["workloads"] == []

    stream = await mk.client.get(
        f"/api/cloud-user/deployments/{dep['id']}/events?max_seconds=0", headers=user
    )
    text = await stream.text()
    assert [
        line.split('"to":"')[1].split('"')[0] for line in text.splitlines() if line.startswith("data:")
    ] == [
        "funding",
        "starting",
        "closing",
    ]
