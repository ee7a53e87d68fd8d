"""The reference agent as a real process (``python -m api.cli node run``) against the fake node API
(tests/support/node_api_double.py) and real leases on anvil.

1. A verified workload really runs; a SIGKILLed agent restarted on the same state dir re-adopts it (the
   workload was started exactly once) and still reports it; removed from the desired set -> stopped.
2. SIGTERM: the agent exits 0 and leaves its workloads running (default), or stops them with
   ``--stop-workloads-on-exit``.
3. A rejected token: exit status 3, a clear message, the token never printed.
"""

# Waits on foreign processes (files they write, their exit): no event to await, so bounded polls.
# ruff: noqa: ASYNC110, ASYNC240

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from api.nodeagent import procfs
from chain.connect import ChainConnection
from chain.devchain import Anvil
from tests.support.node_api_double import FakeNodeApi, LeaseBook, lease_book, workload

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
TOKEN = "cmn_e2e_agent_token_do_not_print"
NODE = 21
LIMIT = 60
SPEC = bytes.fromhex("5e" * 32)
SLEEPER = "import os, sys, time\nopen(sys.argv[1], 'a').write(f'{os.getpid()}\\n')\ntime.sleep(600)\n"


@pytest.fixture(scope="module")
async def book(anvil: Anvil, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LeaseBook]:
    conn: ChainConnection
    conn, made = await lease_book(anvil.url, tmp_path_factory.mktemp("agent-e2e-manifests"))
    yield made
    await conn.close()


@pytest.fixture
async def api(book: LeaseBook, anvil: Anvil) -> AsyncIterator[FakeNodeApi]:
    server = await FakeNodeApi(NODE, TOKEN, book.chain_info(anvil.url)).start()
    yield server
    await server.stop()


class AgentProcess:
    def __init__(self, api: FakeNodeApi, state_dir: Path, token_file: Path, *extra: str) -> None:
        env = {k: v for k, v in os.environ.items() if k != "CLOUDMARKET_NODE_TOKEN"}
        env["CLOUDMARKET_LOG_FORMAT"] = "text"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "api.cli",
                "node",
                "run",
                "--api",
                api.url,
                "--node-id",
                str(NODE),
                "--token-file",
                str(token_file),
                "--state-dir",
                str(state_dir),
                "--wait",
                "5",
                *extra,
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    async def wait(self) -> tuple[int, str, str]:
        async with asyncio.timeout(LIMIT):
            while self.proc.poll() is None:
                await asyncio.sleep(0.05)
        out, err = self.proc.communicate()
        return self.proc.returncode, out, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


@pytest.fixture
def agents() -> Any:
    made: list[AgentProcess] = []
    yield made
    for a in made:
        a.kill()


def states(hb: dict[str, Any]) -> dict[str, str]:
    return {w["workload_id"]: w["state"] for w in hb["workloads"]}


async def read_pids(path: Path) -> list[int]:
    async with asyncio.timeout(LIMIT):
        while not path.exists() or not path.read_text().strip():
            await asyncio.sleep(0.02)
    return [int(line) for line in path.read_text().split()]


async def gone(pid: int) -> None:
    async with asyncio.timeout(LIMIT):
        while (stat := procfs.read_stat(pid)) is not None and stat.alive:
            await asyncio.sleep(0.02)


def kill_leftover(pid: int) -> None:
    stat = procfs.read_stat(pid)
    if stat is not None and stat.alive:
        os.killpg(pid, signal.SIGKILL)


async def test_sigkill_restart_readopts_then_stops_when_removed(
    book: LeaseBook, api: FakeNodeApi, agents: list[AgentProcess], tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    node = book.node_ids[0]
    lease = await book.open_lease(node, SPEC)
    out = tmp_path / "pids"
    api.set_workloads([workload("d9-r0", lease, node, SPEC, [sys.executable, "-c", SLEEPER, str(out)])])
    agents.append(AgentProcess(api, tmp_path / "state", token_file))
    (pid,) = await read_pids(out)
    try:
        await api.wait_heartbeat(lambda h: states(h).get("d9-r0") == "running", LIMIT)

        agents[0].proc.kill()  # SIGKILL: no cleanup at all
        assert (await agents[0].wait())[0] == -signal.SIGKILL
        assert procfs.read_stat(pid) is not None  # the workload outlives its agent
        seen = len(api.heartbeats)
        agents.append(AgentProcess(api, tmp_path / "state", token_file))
        await api.wait_heartbeat(lambda h: states(h).get("d9-r0") == "running", LIMIT, since=seen)
        assert await read_pids(out) == [pid]  # re-adopted, not started a second time

        api.set_workloads([])
        await api.wait_heartbeat(lambda h: states(h).get("d9-r0") == "stopped", LIMIT)
        await gone(pid)

        agents[1].proc.send_signal(signal.SIGTERM)
        code, stdout, stderr = await agents[1].wait()
        assert code == 0, stderr
        assert TOKEN not in stdout + stderr
    finally:
        kill_leftover(pid)


async def test_sigterm_leaves_workloads_unless_asked_to_stop_them(
    book: LeaseBook, api: FakeNodeApi, agents: list[AgentProcess], tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    node = book.node_ids[0]
    lease = await book.open_lease(node, SPEC)
    out = tmp_path / "pids"
    api.set_workloads([workload("d8-r0", lease, node, SPEC, [sys.executable, "-c", SLEEPER, str(out)])])
    agents.append(AgentProcess(api, tmp_path / "state", token_file))
    (pid,) = await read_pids(out)
    try:
        agents[0].proc.send_signal(signal.SIGTERM)
        assert (await agents[0].wait())[0] == 0
        stat = procfs.read_stat(pid)
        assert stat is not None and stat.alive  # left running for the next agent

        agents.append(AgentProcess(api, tmp_path / "state", token_file, "--stop-workloads-on-exit"))
        seen = len(api.heartbeats)
        await api.wait_heartbeat(lambda h: states(h).get("d8-r0") == "running", LIMIT, since=seen)
        agents[1].proc.send_signal(signal.SIGTERM)
        assert (await agents[1].wait())[0] == 0
        await gone(pid)
        assert await read_pids(out) == [pid]
        assert states(api.heartbeats[-1]).get("d8-r0") == "stopped"  # the farewell heartbeat
    finally:
        kill_leftover(pid)


async def test_rejected_token_exits_3_with_a_clear_message(
    api: FakeNodeApi, agents: list[AgentProcess], tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("cmn_not_the_right_one")
    agents.append(AgentProcess(api, tmp_path / "state", token_file))
    code, stdout, stderr = await agents[0].wait()
    assert code == 3
    assert f"rejected the token for node {NODE} (401)" in stderr
    assert "cmn_not_the_right_one" not in stdout + stderr


def test_missing_token_is_a_configuration_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CLOUDMARKET_NODE_TOKEN"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "api.cli",
            "node",
            "run",
            "--api",
            "http://127.0.0.1:1",
            "--node-id",
            "1",
            "--state-dir",
            str(tmp_path / "s"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=LIMIT,
        check=False,
    )
    assert done.returncode == 2 and "a node token is needed" in done.stderr
