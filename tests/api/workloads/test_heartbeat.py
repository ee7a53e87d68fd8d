"""Heartbeats: liveness and placement candidates, per-workload state, usage series and retention,
deployment health (starting -> running -> degraded) from reported states, and the metrics route."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from engine.deployments import models as m
from engine.nodes.candidates import placement_candidates
from engine.runtime import Runtime
from engine.workloads import health
from engine.workloads import models as wm
from engine.workloads.heartbeats import LivenessPolicy, node_health, prune, uptime_bps, utcnow
from tests.api.workloads.support import AgentNode, make_deployment, make_node, open_lease

URL = "/api/cloud-provider/nodes/{}/heartbeat"


def beat(workloads: list[dict[str, Any]] | None = None, cpu: int = 500) -> dict[str, Any]:
    return {
        "resources": {"cpu_millicores_used": cpu, "memory_mb_used": 256, "disk_gb_used": 3},
        "workloads": workloads or [],
        "agent": {"version": "0.6.0-test"},
    }


def report(dep_id: int, lease_id: str, state: str, cpu: float = 1.5, replica: int = 0) -> dict[str, Any]:
    return {
        "workload_id": f"d{dep_id}-r{replica}",
        "lease_id": lease_id,
        "state": state,
        "restarts": 0,
        "cpu_seconds": cpu,
        "rss_bytes": 10_000_000,
        "exit_code": None,
        "reason": None,
    }


async def send(client: Any, node: AgentNode, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    resp = await client.post(URL.format(node.id), headers=node.headers, json=body)
    assert resp.status == status, await resp.text()
    return await resp.json()  # type: ignore[no-any-return]


async def user_headers(client: Any, dev: Any, sub: str) -> tuple[dict[str, str], int]:
    headers = {"Authorization": "Bearer " + dev.mint(["cloud-user"], sub=sub)}
    resp = await client.get("/api/auth/session", headers=headers)
    return headers, int((await resp.json())["user_id"])


async def test_heartbeat_makes_a_node_online_for_placement(agent_env: Any, eth_runtime: Runtime) -> None:
    client, _ = agent_env
    node = await make_node(eth_runtime)
    policy = LivenessPolicy(offline_after=60)

    async def candidate() -> Any:
        async with eth_runtime.sessionmaker() as s:
            cands = await placement_candidates(s, now=0, liveness=policy)
        return next(c for c in cands if c.node_id == str(node.chain_node_id))

    assert (await candidate()).online is False  # never sent a heartbeat
    out = await send(client, node, beat())
    assert out["ok"] is True and out["heartbeat_interval"] == eth_runtime.settings.node_heartbeat_interval
    c = await candidate()
    assert c.online is True and c.uptime_bps == 10_000
    async with eth_runtime.sessionmaker() as s:
        live = await s.get(wm.NodeLiveness, node.id)
        assert live is not None and live.agent_version == "0.6.0-test" and live.cpu_millicores_used == 500
        later = utcnow() + timedelta(seconds=61)
        (h,) = (await node_health(s, [node.id], now=later, policy=policy)).values()
    assert h.online is False  # silent for longer than offline_after


def test_uptime_formula() -> None:
    now = utcnow().replace(second=30)
    first = now - timedelta(minutes=9)  # 10 minutes in the window, the current one included
    assert uptime_bps(first, 10, now, 3600) == 10_000
    assert uptime_bps(first, 5, now, 3600) == 5_000
    assert uptime_bps(first, 3, now, 3600) == 3_000
    assert uptime_bps(now - timedelta(days=2), 60, now, 3600) == 60 * 10_000 // 61  # window-clipped


async def test_states_series_health_and_metrics(agent_env: Any, eth_runtime: Runtime) -> None:
    client, dev = agent_env
    n0, n1, stranger = [await make_node(eth_runtime) for _ in range(3)]
    headers, user = await user_headers(client, dev, "dev|hb-owner")
    dep_id, _ = await make_deployment(eth_runtime, user, [n0, n1])
    l0 = await open_lease(eth_runtime, dep_id, n0)
    l1 = await open_lease(eth_runtime, dep_id, n1)

    async def status() -> str:
        async with eth_runtime.sessionmaker() as s:
            dep = await s.get(m.Deployment, dep_id)
            assert dep is not None
            return dep.status

    assert await status() == "starting"
    # another node cannot report this deployment's workloads
    out = await send(client, stranger, beat([report(dep_id, l0, "crashed")]))
    assert out["ignored"] == [f"d{dep_id}-r0"]
    await send(client, n1, beat())  # node 1's agent is up, its workload not reported yet
    await send(client, n0, beat([report(dep_id, l0, "running", cpu=1.0)]))
    assert await status() == "starting"  # replica 1 not running yet
    await send(client, n1, beat([report(dep_id, l1, "running", replica=1)]))
    assert await status() == "running"
    await send(client, n0, beat([report(dep_id, l0, "running", cpu=3.0)]))
    await send(client, n1, beat([report(dep_id, l1, "crashed", replica=1)]))
    assert await status() == "degraded"
    await send(client, n1, beat([report(dep_id, l1, "running", replica=1)]))
    assert await status() == "running"
    # node 1 goes silent: the sweep (scheduler job) marks the deployment degraded
    async with eth_runtime.sessionmaker() as s, s.begin():
        later = utcnow() + timedelta(seconds=eth_runtime.settings.node_offline_after + 5)
        n0_live = await s.get(wm.NodeLiveness, n0.id)
        assert n0_live is not None
        n0_live.last_seen_at = later  # node 0 keeps reporting
        moved = await health.sweep(s, now=later, policy=LivenessPolicy.from_settings(eth_runtime.settings))
    assert dep_id in moved and await status() == "degraded"

    resp = await client.get(f"/api/cloud-user/deployments/{dep_id}/metrics", headers=headers)
    assert resp.status == 200, await resp.text()
    replicas = {r["workload_id"]: r for r in (await resp.json())["replicas"]}
    r0 = replicas[f"d{dep_id}-r0"]
    assert r0["node_id"] == n0.id and r0["state"] == "running"
    assert [x["cpu_seconds"] for x in r0["samples"]] == [1.0, 3.0]
    assert r0["samples"][1]["rss_bytes"] == 10_000_000 and r0["samples"][0]["cpu_millicores"] == 0
    assert [x["cpu_seconds"] for x in replicas[f"d{dep_id}-r1"]["samples"]] == [1.5, 1.5, 1.5]
    other, _ = await user_headers(client, dev, "dev|hb-other")
    resp = await client.get(f"/api/cloud-user/deployments/{dep_id}/metrics", headers=other)
    assert resp.status == 404


async def test_retention_prunes_old_samples_and_minutes(agent_env: Any, eth_runtime: Runtime) -> None:
    client, _ = agent_env
    node = await make_node(eth_runtime)
    dep_id, _ = await make_deployment(eth_runtime, node.provider_user_id, [node])
    lease = await open_lease(eth_runtime, dep_id, node)
    await send(client, node, beat([report(dep_id, lease, "running")]))
    old = utcnow() - timedelta(seconds=eth_runtime.settings.node_usage_retention + 60)
    async with eth_runtime.sessionmaker() as s, s.begin():
        s.add(
            wm.UsageSample(
                node_id=node.id,
                deployment_id=dep_id,
                workload_id=f"d{dep_id}-r0",
                replica=0,
                role="primary",
                at=old,
                cpu_ms=1,
                rss_bytes=1,
            )
        )
        s.add(wm.NodeUptimeMinute(node_id=node.id, minute=int(old.timestamp()) // 60 - 24 * 60 * 2))

    async def counts() -> tuple[int, int]:
        async with eth_runtime.sessionmaker() as s:
            a = await s.scalar(
                select(func.count()).select_from(wm.UsageSample).where(wm.UsageSample.node_id == node.id)
            )
            b = await s.scalar(
                select(func.count())
                .select_from(wm.NodeUptimeMinute)
                .where(wm.NodeUptimeMinute.node_id == node.id)
            )
        return int(a or 0), int(b or 0)

    assert await counts() == (2, 2)
    await send(client, node, beat([report(dep_id, lease, "running")]))  # prunes on insert
    assert await counts() == (2, 1)  # the old sample is gone, the new one added; the old minute is gone
    async with eth_runtime.sessionmaker() as s, s.begin():  # the job prunes nodes that went silent too
        far = utcnow() + timedelta(seconds=eth_runtime.settings.node_uptime_window + 120)
        await prune(s, now=far, policy=LivenessPolicy.from_settings(eth_runtime.settings))
    assert await counts() == (0, 0)


async def test_bad_heartbeats_are_refused(agent_env: Any, eth_runtime: Runtime) -> None:
    client, _ = agent_env
    node = await make_node(eth_runtime)
    body = beat([{"workload_id": "x", "lease_id": "1", "state": "dancing"}])
    await send(client, node, body, status=400)
    bad_cpu = beat([{"workload_id": "x", "lease_id": "1", "state": "running", "cpu_seconds": -1}])
    await send(client, node, bad_cpu, status=400)
