"""The agent loop in-process, against the fake node API and real leases on a real anvil: desired workloads
really run, leave the list -> stopped, heartbeats carry the states, spec hashes are checked against
``LeaseOpened`` (wrong hash, wrong node, unknown lease -> rejected, never started), 5xx -> recovery,
401 -> the loop ends with NodeAuthRejected."""

# Tests wait for files written by foreign processes: no event exists for those, so they poll, bounded.
# ruff: noqa: ASYNC110, ASYNC240

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from api.nodeagent import ProcessRuntime, procfs
from api.nodeagent.agent import Agent, AgentConfig, to_desired
from api.nodeagent.client import Backoff, NodeApiClient, NodeAuthRejected
from api.nodeagent.verify import LeaseVerifier
from chain.connect import ChainConnection
from chain.devchain import Anvil
from tests.support.node_api_double import FakeNodeApi, LeaseBook, lease_book, workload

pytestmark = pytest.mark.anvil

TOKEN = "cmn_agent_loop_token"
NODE = 11
LIMIT = 30
SPEC = bytes.fromhex("ab" * 32)
OTHER_SPEC = bytes.fromhex("cd" * 32)
SLEEPER = "import os, sys, time\nopen(sys.argv[1], 'a').write(f'{os.getpid()}\\n')\ntime.sleep(600)\n"


@pytest.fixture(scope="module")
async def book(anvil: Anvil, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LeaseBook]:
    conn: ChainConnection
    conn, made = await lease_book(anvil.url, tmp_path_factory.mktemp("agent-manifests"))
    yield made
    await conn.close()


@pytest.fixture
async def api(book: LeaseBook, anvil: Anvil) -> AsyncIterator[FakeNodeApi]:
    server = await FakeNodeApi(NODE, TOKEN, book.chain_info(anvil.url)).start()
    yield server
    await server.stop()


class Running:
    def __init__(self, agent: Agent, task: asyncio.Task[None], stop: asyncio.Event) -> None:
        self.agent, self.task, self.stop = agent, task, stop


@pytest.fixture
async def start_agent(api: FakeNodeApi, tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    session = aiohttp.ClientSession()
    started: list[Running] = []

    async def start(token: str = TOKEN) -> Running:
        client = NodeApiClient(api.url, NODE, token, session=session, backoff=Backoff(0.05, 0.2))
        verifier = LeaseVerifier.from_chain_info(session, await client.chain_info())
        runtime = ProcessRuntime(tmp_path / "state", stop_grace=5)
        config = AgentConfig(wait=5, stop_workloads_on_exit=True, min_heartbeat_gap=0.05)
        agent = Agent(client, runtime, verifier.verify, config, state_dir=tmp_path / "state")
        stop = asyncio.Event()
        running = Running(agent, asyncio.create_task(agent.run(stop)), stop)
        started.append(running)
        return running

    yield start
    for r in started:
        r.stop.set()
        await asyncio.gather(r.task, return_exceptions=True)
    await session.close()


def states(hb: dict[str, Any]) -> dict[str, str]:
    return {w["workload_id"]: w["state"] for w in hb["workloads"]}


async def read_pids(path: Path) -> list[int]:
    async with asyncio.timeout(LIMIT):
        while not path.exists() or not path.read_text().strip():
            await asyncio.sleep(0.02)
    return [int(line) for line in path.read_text().split()]


async def test_runs_desired_workload_and_stops_it_when_removed(
    book: LeaseBook, api: FakeNodeApi, start_agent: Callable[..., Any], tmp_path: Path
) -> None:
    node = book.node_ids[0]
    lease = await book.open_lease(node, SPEC)
    out = tmp_path / "pids"
    api.set_workloads([workload("d1-r0", lease, node, SPEC, [sys.executable, "-c", SLEEPER, str(out)])])
    await start_agent()
    (pid,) = await read_pids(out)
    hb = await api.wait_heartbeat(lambda h: states(h).get("d1-r0") == "running")
    entry = next(w for w in hb["workloads"] if w["workload_id"] == "d1-r0")
    assert entry["lease_id"] == str(lease) and entry["reason"] is None
    assert hb["agent"]["version"] and set(hb["resources"]) == {
        "cpu_millicores_used",
        "memory_mb_used",
        "disk_gb_used",
    }
    assert await api.wait_heartbeat(lambda h: any(w["rss_bytes"] > 0 for w in h["workloads"]))

    api.set_workloads([])
    await api.wait_heartbeat(lambda h: states(h).get("d1-r0") == "stopped")
    stat = procfs.read_stat(pid)
    assert stat is None or not stat.alive
    assert await read_pids(out) == [pid]  # started once


async def test_rejects_wrong_spec_hash_wrong_node_and_unknown_lease(
    book: LeaseBook, api: FakeNodeApi, start_agent: Callable[..., Any], tmp_path: Path
) -> None:
    mine, other = book.node_ids[0], book.node_ids[1]
    good = await book.open_lease(mine, SPEC)
    for_other_node = await book.open_lease(other, SPEC)
    files = {name: tmp_path / name for name in ("good", "hash", "node", "unknown", "noimage")}

    def cmd(name: str) -> list[str]:
        return [sys.executable, "-c", SLEEPER, str(files[name])]

    api.set_workloads(
        [
            workload("ok-1", good, mine, SPEC, cmd("good")),
            workload("bad-hash", good, mine, OTHER_SPEC, cmd("hash")),
            workload("bad-node", for_other_node, mine, SPEC, cmd("node")),
            workload("no-lease", 10**12, mine, SPEC, cmd("unknown")),
            workload("image-only", good, mine, SPEC, None),
        ]
    )
    running = await start_agent()
    hb = await api.wait_heartbeat(lambda h: states(h).get("ok-1") == "running" and len(h["workloads"]) == 5)
    by_id = {w["workload_id"]: w for w in hb["workloads"]}
    assert {k: v["state"] for k, v in by_id.items()} == {
        "ok-1": "running",
        "bad-hash": "rejected",
        "bad-node": "rejected",
        "no-lease": "rejected",
        "image-only": "rejected",
    }
    assert "spec hash mismatch" in by_id["bad-hash"]["reason"]
    assert f"chain node {other}" in by_id["bad-node"]["reason"]
    assert "no LeaseOpened" in by_id["no-lease"]["reason"]
    assert "needs a command" in by_id["image-only"]["reason"]
    await read_pids(files["good"])
    assert not any(files[n].exists() for n in ("hash", "node", "unknown"))  # never started
    # Found leases are cached for good, a missing one for the miss TTL: re-applying asks the chain nothing.
    verifier: LeaseVerifier = running.agent._check.__self__
    calls = verifier.rpc_calls
    await running.agent.apply(api.workloads)
    assert verifier.rpc_calls == calls
    assert {s.workload_id for s in running.agent._rejected.values()} == {
        "bad-hash",
        "bad-node",
        "no-lease",
        "image-only",
    }


async def test_server_errors_back_off_and_recover(
    book: LeaseBook, api: FakeNodeApi, start_agent: Callable[..., Any], tmp_path: Path
) -> None:
    node = book.node_ids[0]
    lease = await book.open_lease(node, SPEC)
    api.fail_next = 6  # the first polls and heartbeats get 503
    running = await start_agent()
    hb_before = await api.wait_heartbeat(lambda h: True)
    assert api.failures_served == 6
    # Recovery: a change published after the outage reaches the agent and runs.
    out = tmp_path / "after-outage"
    api.set_workloads([workload("d2-r0", lease, node, SPEC, [sys.executable, "-c", SLEEPER, str(out)])])
    await read_pids(out)
    await api.wait_heartbeat(lambda h: states(h).get("d2-r0") == "running")
    assert hb_before is api.heartbeats[0] and not running.task.done()


async def test_401_ends_the_loop(api: FakeNodeApi, start_agent: Callable[..., Any]) -> None:
    running = await start_agent(token="cmn_revoked")
    with pytest.raises(NodeAuthRejected) as info:
        async with asyncio.timeout(LIMIT):
            await running.task
    assert info.value.status == 401 and "cmn_revoked" not in str(info.value)
    assert api.heartbeats == []


def test_to_desired_maps_the_protocol_entry() -> None:
    entry = workload("d3-r1", 5, 2, SPEC, ["/bin/true"], restart_policy="always", env={"A": "1"})
    d = to_desired(entry)
    assert d.manifest is not None and d.reason is None
    assert (d.manifest.lease_id, d.manifest.spec_hash, d.chain_node_id) == (5, "0x" + SPEC.hex(), 2)
    assert d.manifest.restart_policy.mode.value == "always" and d.manifest.env == {"A": "1"}
    bad = to_desired(workload("../evil", 5, 2, SPEC, ["/bin/true"]))
    assert bad.manifest is None and bad.reason and "workload_id" in bad.reason
    unknown_policy = to_desired(workload("d3-r2", 5, 2, SPEC, ["/bin/true"], restart_policy="sometimes"))
    assert unknown_policy.manifest is None
