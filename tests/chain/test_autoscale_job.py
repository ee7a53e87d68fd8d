"""The ``deployments.autoscale`` job on anvil, called directly (``bind(runtime.context).autoscale(now=...)``),
fed by real node-agent heartbeats through the API and acting through the real relay/outbox/indexer.

* managed wallet, policy min 1 / max 2 / target 5000 bps / cooldown 60 s, 500 requested millicores:
  usage at the target (250 millicores = 5000 bps) -> nothing; usage at 400 millicores (8000 bps) -> one
  new lease on chain on a distinct node (escrow ``lease_count`` +1, open); low usage inside the cooldown
  -> nothing; once the cooldown passed -> back to 1 replica, the extra lease closed on chain;
* wallet-connected payer with a policy: a recommendation transition only (status, replicas, leases and
  the chain unchanged).

Time: each heartbeat is POSTed for real, then the usage sample it wrote gets a chosen timestamp (the
server stamps samples with its wall clock; the job's ``now`` is passed explicitly), so every utilisation
figure is exact and nothing depends on how fast the test runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, cast

import pytest
from sqlalchemy import func, select, update

from chain.devchain import Anvil
from engine.scaling.jobs import bind
from engine.workloads.heartbeats import utcnow
from engine.workloads.models import UsageSample
from tests.chain.deployments_support import HEARTBEAT, Market, market
from tests.chain.test_deployments_flow import send_all, wallet_user
from tests.chain.test_scaling_failover import in_service, managed_user, until

pytestmark = [pytest.mark.anvil, pytest.mark.timeout(300)]  # until() may wait 150 s

DEPLOY = "/api/cloud-user/deployments"
SPEC = {"command": ["sleep", "600"], "resources": {"cpu_millicores": 500, "memory_mb": 256, "disk_gb": 1}}
POLICY = {"min_replicas": 1, "max_replicas": 2, "cpu_target_bps": 5_000, "cooldown_seconds": 60}
STEP = 15  # seconds between two heartbeats of the simulated agent


@pytest.fixture(scope="module")
async def world(anvil: Anvil, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    async with market(anvil, tmp_path_factory.mktemp("autoscale")) as mk:
        _, prov, nodes = await mk.onboard(
            "dev|as-p", [{"name": "as1", "region": "eu-west"}, {"name": "as2", "region": "eu-west"}]
        )
        tokens = {}
        for n in nodes:
            issued = await mk.call("POST", f"/api/cloud-provider/nodes/{n['id']}/tokens", prov, 201)
            tokens[n["id"]] = {"Authorization": f"Bearer {issued['token']}"}
        yield {"mk": mk, "tokens": tokens}


def autoscale_job(mk: Market) -> Callable[..., Awaitable[dict[str, int]]]:
    """The bound ``deployments.autoscale`` job; it takes ``now=`` (the scheduler calls it without)."""
    return cast(Callable[..., Awaitable[dict[str, int]]], bind(mk.runtime.context).autoscale)


async def beat(
    mk: Market,
    tokens: dict[int, dict[str, str]],
    lease: dict[str, Any],
    dep_id: int,
    cpu_ms: int,
    at: datetime,
) -> None:
    """One heartbeat of ``lease``'s node reporting the replica running with ``cpu_ms`` of cumulative CPU
    time; the usage sample it recorded is stamped ``at``."""
    node = lease["node_id"]
    async with mk.runtime.sessionmaker() as s:
        before = await s.scalar(select(func.coalesce(func.max(UsageSample.id), 0)))
    report = {
        "workload_id": f"d{dep_id}-r{lease['replica_index']}",
        "lease_id": lease["lease_id"],
        "state": "running",
        "restarts": 0,
        "cpu_seconds": cpu_ms / 1000,
        "rss_bytes": 10**6,
        "exit_code": None,
        "reason": None,
    }
    got = await mk.call(
        "POST",
        f"/api/cloud-provider/nodes/{node}/heartbeat",
        tokens[node],
        200,
        json=HEARTBEAT | {"workloads": [report]},
    )
    assert got["ok"] is True
    async with mk.runtime.sessionmaker() as s, s.begin():
        done = await s.execute(
            update(UsageSample).where(UsageSample.id > before, UsageSample.node_id == node).values(at=at)
        )
        assert getattr(done, "rowcount", None) == 1  # the report was accepted as this node's open lease


async def beats(
    mk: Market,
    tokens: dict[int, dict[str, str]],
    lease: dict[str, Any],
    dep_id: int,
    *,
    start: datetime,
    cpu_ms: int,
    millicores: int,
    count: int,
) -> int:
    """``count`` heartbeats ``STEP`` seconds apart from ``start``, the replica using ``millicores``;
    returns the cumulative CPU time reported last."""
    for i in range(count):
        cpu_ms += millicores * STEP if i else 0
        await beat(mk, tokens, lease, dep_id, cpu_ms, start + timedelta(seconds=i * STEP))
    return cpu_ms


async def running(mk: Market, dep_id: int, headers: dict[str, str]) -> dict[str, Any]:
    got: dict[str, Any] = await mk.call("GET", f"{DEPLOY}/{dep_id}", headers, 200)
    assert got["status"] == "running", got
    return got


async def test_managed_deployment_scales_up_then_down_after_the_cooldown(world: dict[str, Any]) -> None:
    mk: Market = world["mk"]
    tokens = world["tokens"]
    job = autoscale_job(mk)
    _, headers = await managed_user(mk, "dev|as-managed")
    created = await mk.call("POST", DEPLOY, headers, 201, json={"spec": SPEC, "deposit_per_replica": 60_000})
    dep_id = created["deployment"]["id"]
    (first,) = in_service(await until(mk, dep_id, headers, "starting"))
    await mk.call("PUT", f"{DEPLOY}/{dep_id}/autoscale", headers, 200, json=POLICY)
    t0 = utcnow().replace(microsecond=0)

    # at the target (250 of 500 millicores = 5000 bps): nothing to do
    cpu0 = await beats(mk, tokens, first, dep_id, start=t0, cpu_ms=0, millicores=250, count=4)
    await running(mk, dep_id, headers)
    count0 = await mk.escrow.lease_count()
    assert await job(now=t0 + timedelta(seconds=3 * STEP)) == {"acted": 0}

    # 400 millicores = 8000 bps > 5000 + 10 %: one more replica
    t1 = t0 + timedelta(seconds=4 * STEP)
    cpu0 = await beats(mk, tokens, first, dep_id, start=t1, cpu_ms=cpu0, millicores=400, count=4)
    scaled_at = t1 + timedelta(seconds=4 * STEP)
    assert await job(now=scaled_at) == {"acted": 1}
    two = in_service(await until(mk, dep_id, headers, "starting"))
    assert [x["replica_index"] for x in two] == [0, 1] and two[0]["lease_id"] == first["lease_id"]
    assert two[1]["chain_node_id"] != first["chain_node_id"]  # anti-affinity: the other node
    assert await mk.escrow.lease_count() == count0 + 1
    info = await mk.escrow.lease(int(two[1]["lease_id"]))
    assert info.open and info.node_id == two[1]["chain_node_id"]

    # both replicas report low usage (50 millicores = 1000 bps each) after the scaling
    t2 = scaled_at + timedelta(seconds=1)
    cpu1 = 0
    for i in range(4):
        at = t2 + timedelta(seconds=i * STEP)
        cpu0, cpu1 = cpu0 + 50 * STEP, cpu1 + (50 * STEP if i else 0)
        await beat(mk, tokens, two[0], dep_id, cpu0, at)
        await beat(mk, tokens, two[1], dep_id, cpu1, at)
    await running(mk, dep_id, headers)
    last = t2 + timedelta(seconds=3 * STEP)
    assert last < scaled_at + timedelta(seconds=POLICY["cooldown_seconds"])
    assert await job(now=last) == {"acted": 0}  # inside the cooldown
    assert len(in_service(await running(mk, dep_id, headers))) == 2

    assert await job(now=scaled_at + timedelta(seconds=POLICY["cooldown_seconds"])) == {"acted": 1}
    got = await until(mk, dep_id, headers, "running")
    assert [x["lease_id"] for x in in_service(got)] == [first["lease_id"]]
    assert await mk.escrow.lease_count() == count0 + 1  # the scale-down opened nothing
    assert (await mk.escrow.lease(int(first["lease_id"]))).open
    assert not (await mk.escrow.lease(int(two[1]["lease_id"]))).open  # closed on chain
    (retired,) = [x for x in got["leases"] if x["role"] == "retired"]
    assert retired["lease_id"] == two[1]["lease_id"] and retired["status"] == "closed"
    reasons = [t["reason"] for t in got["transitions"]]
    assert any("1 -> 2 replicas" in r for r in reasons) and any("removed replicas 1" in r for r in reasons)


async def test_wallet_user_only_gets_a_recommendation(world: dict[str, Any]) -> None:
    mk: Market = world["mk"]
    tokens = world["tokens"]
    job = autoscale_job(mk)
    wallet, headers = await wallet_user(mk, "dev|as-wallet", 10**9)
    created = await mk.call("POST", DEPLOY, headers, 201, json={"spec": SPEC, "deposit_per_replica": 60_000})
    dep_id = created["deployment"]["id"]
    await send_all(mk, wallet, created["transactions"])
    (first,) = in_service(await until(mk, dep_id, headers, "starting"))
    await mk.call("PUT", f"{DEPLOY}/{dep_id}/autoscale", headers, 200, json=POLICY)
    # a timeline of its own, hours away from the other test's samples (outside the job's window)
    t0 = utcnow().replace(microsecond=0) + timedelta(hours=2)
    await beats(mk, tokens, first, dep_id, start=t0, cpu_ms=0, millicores=450, count=4)
    before = await running(mk, dep_id, headers)
    count0 = await mk.escrow.lease_count()

    now = t0 + timedelta(seconds=3 * STEP)
    assert await job(now=now) == {"acted": 1}
    await mk.sync()
    after = await running(mk, dep_id, headers)
    assert after["replicas"] == 1 and after["leases"] == before["leases"]
    assert await mk.escrow.lease_count() == count0
    assert (await mk.escrow.lease(int(first["lease_id"]))).open
    (note,) = after["transitions"][len(before["transitions"]) :]
    assert note["from"] == note["to"] == "running"
    assert "recommends 1 -> 2 replicas (sign to scale)" in note["reason"]
    # the recommendation restarted the cooldown: the same usage, a moment later, gives nothing new
    assert await job(now=now + timedelta(seconds=1)) == {"acted": 0}
