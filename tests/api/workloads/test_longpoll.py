"""The desired-state long-poll against the real app and database (SQLite and PostgreSQL, whose hub is
the PostgresHub): immediate answers, bounded holds, wake on a committed lease change, isolation between
nodes, one held poll per node, and 20 concurrent agents never sharing a workload."""

from __future__ import annotations

import asyncio
from typing import Any

from engine.deployments import models as m
from engine.runtime import Runtime
from tests.api.workloads.support import (
    AgentNode,
    close_lease,
    make_deployment,
    make_node,
    make_user,
    open_lease,
)

URL = "/api/cloud-provider/nodes/{}/workloads"


async def poll(client: Any, node: AgentNode, **params: Any) -> dict[str, Any]:
    resp = await client.get(URL.format(node.id), headers=node.headers, params=params)
    assert resp.status == 200, await resp.text()
    return await resp.json()  # type: ignore[no-any-return]


async def test_answers_at_once_without_cursor_and_when_stale(agent_env: Any, eth_runtime: Runtime) -> None:
    client, _ = agent_env
    node = await make_node(eth_runtime)
    first = await poll(client, node, wait=60)  # no cursor: at once
    assert first == {"node_id": node.id, "cursor": first["cursor"], "changed": True, "workloads": []}
    user = await make_user(eth_runtime)
    dep_id, _ = await make_deployment(eth_runtime, user, [node])
    lease_id = await open_lease(eth_runtime, dep_id, node)
    second = await poll(client, node, wait=60, cursor=first["cursor"])  # stale cursor: at once
    assert second["changed"] is True and second["cursor"] != first["cursor"]
    (w,) = second["workloads"]
    assert w["workload_id"] == f"d{dep_id}-r0" and w["lease_id"] == lease_id
    assert w["chain_node_id"] == node.chain_node_id and w["role"] == "primary"
    assert w["command"] == ["sleep", "3600"] and w["env"] == {"MODE": "test"} and w["ports"] == [8080]
    assert w["resources"] == {"cpu_millicores": 250, "memory_mb": 128, "disk_gb": 1, "gpu_count": 0}
    assert w["restart_policy"] == "always" and w["spec_hash"].startswith("0x") and len(w["spec_hash"]) == 66


async def test_holds_then_answers_unchanged_at_timeout(agent_env: Any, eth_runtime: Runtime) -> None:
    client, _ = agent_env
    node = await make_node(eth_runtime)
    cursor = (await poll(client, node))["cursor"]
    out = await poll(client, node, wait=1, cursor=cursor)
    assert out["changed"] is False and out["cursor"] == cursor and out["workloads"] == []
    assert (await poll(client, node, wait=0, cursor=cursor))["changed"] is False


async def test_a_held_poll_wakes_when_a_lease_for_the_node_opens_and_closes(
    agent_env: Any, eth_runtime: Runtime
) -> None:
    client, _ = agent_env
    node, other = await make_node(eth_runtime), await make_node(eth_runtime)
    user = await make_user(eth_runtime)
    dep_id, _ = await make_deployment(eth_runtime, user, [node])
    other_dep, _ = await make_deployment(eth_runtime, user, [other])
    cursor = (await poll(client, node))["cursor"]

    held = asyncio.create_task(poll(client, node, wait=60, cursor=cursor))
    await _until_held(client, node.id)
    await open_lease(eth_runtime, other_dep, other)  # another node's lease: no answer for this node
    await asyncio.sleep(0.05)
    assert not held.done()
    lease_id = await open_lease(eth_runtime, dep_id, node)  # commit, then publish
    woke = await asyncio.wait_for(held, 30)  # far below the 60 s hold: the wake-up answered it
    assert woke["changed"] is True and [w["lease_id"] for w in woke["workloads"]] == [lease_id]

    held = asyncio.create_task(poll(client, node, wait=60, cursor=woke["cursor"]))
    await _until_held(client, node.id)
    await close_lease(eth_runtime, lease_id)
    stopped = await asyncio.wait_for(held, 30)
    assert stopped["changed"] is True and stopped["workloads"] == []


async def test_a_second_poll_for_the_same_node_releases_the_first(
    agent_env: Any, eth_runtime: Runtime
) -> None:
    client, _ = agent_env
    node = await make_node(eth_runtime)
    cursor = (await poll(client, node))["cursor"]
    first = asyncio.create_task(poll(client, node, wait=60, cursor=cursor))
    await _until_held(client, node.id)
    second = asyncio.create_task(poll(client, node, wait=60, cursor=cursor))
    released = await asyncio.wait_for(first, 30)
    assert released["changed"] is False and released["cursor"] == cursor
    assert not second.done()
    second.cancel()
    await asyncio.gather(second, return_exceptions=True)


async def test_closing_a_deployment_removes_its_workloads(agent_env: Any, eth_runtime: Runtime) -> None:
    client, dev = agent_env
    node = await make_node(eth_runtime)
    headers = {"Authorization": "Bearer " + dev.mint(["cloud-user"], sub="dev|agent-closer")}
    resp = await client.get("/api/auth/session", headers=headers)
    user = (await resp.json())["user_id"]
    dep_id, _ = await make_deployment(eth_runtime, user, [node])
    await open_lease(eth_runtime, dep_id, node)
    state = await poll(client, node)
    assert len(state["workloads"]) == 1
    held = asyncio.create_task(poll(client, node, wait=60, cursor=state["cursor"]))
    await _until_held(client, node.id)
    resp = await client.post(f"/api/cloud-user/deployments/{dep_id}/close", headers=headers)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["deployment"]["status"] == m.CLOSING
    out = await asyncio.wait_for(held, 30)
    assert out["changed"] is True and out["workloads"] == []


async def test_twenty_agents_polling_at_once_never_share_a_workload(
    agent_env: Any, eth_runtime: Runtime
) -> None:
    client, _ = agent_env
    nodes = [await make_node(eth_runtime) for _ in range(20)]
    user = await make_user(eth_runtime)
    cursors = {n.id: (await poll(client, n))["cursor"] for n in nodes}
    # one deployment per node (1..3 replicas: its own node, maybe the next, maybe the 7th after it)
    deps: list[tuple[int, list[AgentNode]]] = []
    for i, n in enumerate(nodes):
        group = (
            [n]
            + ([nodes[(i + 1) % 20]] if i % 2 == 0 else [])
            + ([nodes[(i + 7) % 20]] if i % 3 == 0 else [])
        )
        deps.append(((await make_deployment(eth_runtime, user, group))[0], group))
    held = [asyncio.create_task(poll(client, n, wait=60, cursor=cursors[n.id])) for n in nodes]
    await asyncio.gather(*(_until_held(client, n.id) for n in nodes))
    expected: dict[str, int] = {}
    for dep_id, group in deps:
        for n in group:
            expected[await open_lease(eth_runtime, dep_id, n)] = n.id
    woken = await asyncio.wait_for(asyncio.gather(*held), 30)
    assert all(w["changed"] for w in woken)
    finals = await asyncio.gather(*(poll(client, n) for n in nodes))
    seen: dict[str, int] = {}
    for node, state in zip(nodes, finals, strict=True):
        for w in state["workloads"]:
            assert w["lease_id"] not in seen, f"{w['lease_id']} on nodes {seen[w['lease_id']]} and {node.id}"
            seen[w["lease_id"]] = node.id
            assert w["chain_node_id"] == node.chain_node_id
    assert seen == expected


async def _until_held(client: Any, node_id: int) -> None:
    """Wait (event-driven, bounded) until the app holds a poll for ``node_id``."""
    from api.routes.workloads import POLLS

    polls = client.app[POLLS]
    for _ in range(2000):
        if node_id in polls._held:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"no poll held for node {node_id}")
