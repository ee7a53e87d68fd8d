"""The agent follows the chain when it moves: a failed lease check re-reads ``GET /api/chain`` (the fake node
API, real leases on a real anvil) and checks again against the new RPC URL before rejecting a workload."""

# Tests wait for files written by foreign processes: no event exists for those, so they poll, bounded.
# ruff: noqa: ASYNC110

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from api.nodeagent import ProcessRuntime
from api.nodeagent.agent import Agent, AgentConfig
from api.nodeagent.client import Backoff, NodeApiClient
from api.nodeagent.verify import ChainCheck, LeaseVerifier
from chain.connect import ChainConnection
from chain.devchain import Anvil
from tests.support.node_api_double import FakeNodeApi, LeaseBook, free_port, lease_book, workload

pytestmark = pytest.mark.anvil

TOKEN = "cmn_chain_check_token"
NODE = 12
LIMIT = 30
SPEC = bytes.fromhex("ab" * 32)
OTHER_SPEC = bytes.fromhex("cd" * 32)
SLEEPER = "import os, sys, time\nopen(sys.argv[1], 'a').write(f'{os.getpid()}\\n')\ntime.sleep(600)\n"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
async def book(anvil: Anvil, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LeaseBook]:
    conn: ChainConnection
    conn, made = await lease_book(anvil.url, tmp_path_factory.mktemp("check-manifests"))
    yield made
    await conn.close()


@pytest.fixture
async def moved(book: LeaseBook) -> AsyncIterator[FakeNodeApi]:
    """A node API whose chain info still names an RPC URL where nothing listens any more."""
    server = await FakeNodeApi(NODE, TOKEN, book.chain_info(f"http://127.0.0.1:{free_port()}")).start()
    yield server
    await server.stop()


@pytest.fixture
async def client(moved: FakeNodeApi) -> AsyncIterator[NodeApiClient]:
    async with aiohttp.ClientSession() as session:
        yield NodeApiClient(moved.url, NODE, TOKEN, session=session, backoff=Backoff(0.05, 0.2))


async def make_check(client: NodeApiClient, clock: Clock | None = None) -> ChainCheck:
    verifier = LeaseVerifier.from_chain_info(client.session, await client.chain_info())
    return ChainCheck(verifier, client.chain_info, clock=clock or Clock())


async def test_agent_rereads_the_chain_info_before_rejecting(
    book: LeaseBook, anvil: Anvil, moved: FakeNodeApi, client: NodeApiClient, tmp_path: Path
) -> None:
    node = book.node_ids[0]
    lease = await book.open_lease(node, SPEC)
    check = await make_check(client)
    moved.chain_info = book.chain_info(anvil.url)  # the engine restarted its chain elsewhere
    out = tmp_path / "pids"
    moved.set_workloads([workload("m1-r0", lease, node, SPEC, [sys.executable, "-c", SLEEPER, str(out)])])
    runtime = ProcessRuntime(tmp_path / "state", stop_grace=5)
    config = AgentConfig(wait=5, stop_workloads_on_exit=True, min_heartbeat_gap=0.05)
    agent = Agent(client, runtime, check, config, state_dir=tmp_path / "state")
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    try:
        hb = await moved.wait_heartbeat(lambda h: any(w["workload_id"] == "m1-r0" for w in h["workloads"]))
        assert [w["state"] for w in hb["workloads"]] in (["starting"], ["running"]), hb
        async with asyncio.timeout(LIMIT):
            while not out.exists():
                await asyncio.sleep(0.02)
        assert check.verifier.rpc_url == anvil.url and check.refreshes == 1
    finally:
        stop.set()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_real_mismatch_stays_rejected_and_rereads_are_throttled(
    book: LeaseBook, anvil: Anvil, moved: FakeNodeApi, client: NodeApiClient
) -> None:
    node = book.node_ids[0]
    lease = await book.open_lease(node, SPEC)
    moved.chain_info = book.chain_info(anvil.url)
    clock = Clock()
    check = await make_check(client, clock)
    assert (await check(lease, "0x" + SPEC.hex(), node)).ok and check.refreshes == 0

    verdict = await check(lease, "0x" + OTHER_SPEC.hex(), node)
    assert not verdict.ok and "spec hash mismatch" in (verdict.reason or "")
    assert check.refreshes == 1  # re-read, nothing changed: the verdict stands
    calls = check.verifier.rpc_calls
    assert not (await check(lease, "0x" + OTHER_SPEC.hex(), node)).ok
    assert check.refreshes == 1 and check.verifier.rpc_calls == calls  # throttled; the lease was cached
    clock.now += 10
    assert not (await check(lease, "0x" + OTHER_SPEC.hex(), node)).ok
    assert check.refreshes == 2


async def test_an_unreachable_api_leaves_the_verdict(
    book: LeaseBook, moved: FakeNodeApi, client: NodeApiClient
) -> None:
    verifier = LeaseVerifier.from_chain_info(client.session, await client.chain_info())
    down = NodeApiClient(
        f"http://127.0.0.1:{free_port()}", NODE, TOKEN, session=client.session, max_attempts=1
    )
    check = ChainCheck(verifier, down.chain_info, timeout=5)
    verdict = await check(1, "0x" + SPEC.hex(), book.node_ids[0])
    assert not verdict.ok and "cannot verify lease 1" in (verdict.reason or "")
    assert check.refreshes == 1 and verifier.rpc_url == moved.chain_info["rpc_url"]
