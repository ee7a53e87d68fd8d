"""The dev anvil across restarts and crashes (issue 11, "Dev chain moves on restart").

- a quick restart gets the same port (TIME_WAIT does not make it look taken; the port is remembered);
- an anvil left by a previous run of the data dir (pid file) is stopped before a new one starts, and only
  when /proc shows it is an anvil on that state file;
- anvil dies with the process that spawned it, even when that process is SIGKILLed.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from chain.devchain import (
    Anvil,
    PortTakenError,
    _listener_pids,
    _proc_alive,
    anvil_pid_from,
    free_port,
    port_free,
)
from engine.runtime import ANVIL_PID_FILE, ANVIL_PORT_FILE, ANVIL_STATE_FILE, start_dev_chain
from engine.settings import Settings

pytestmark = pytest.mark.anvil

REPO = Path(__file__).resolve().parents[2]
LIMIT = 20.0


def _chain_id(url: str) -> int:
    """One JSON-RPC call over a fresh connection that the server closes (``Connection: close``), which
    leaves the server's side of it in TIME_WAIT once anvil is gone."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})  # noqa: S310
    with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 — loopback URL we built
        return int(json.loads(resp.read())["result"], 16)


def _wait_gone(pid: int) -> bool:
    deadline = time.monotonic() + LIMIT
    while time.monotonic() < deadline:
        if not _proc_alive(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", dev_chain_port=free_port())


@pytest.fixture
def listener() -> Iterator[int]:
    """A port someone else listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_port_free_ignores_time_wait_but_not_a_listener(listener: int) -> None:
    assert not port_free(listener)
    with Anvil() as node:
        port = node.port
        for _ in range(3):
            _chain_id(node.url)
        assert not port_free(port)  # anvil listens
    assert port_free(port)  # only TIME_WAIT left behind


def test_an_anvil_whose_port_another_node_holds_is_not_taken_for_ours(listener: int) -> None:
    """Between picking a free port and anvil's bind another program may take the port: our anvil exits,
    and the node answering there is not ours (in a full run, a test's mints went to another worker's
    anvil and never mined). The start fails with PortTakenError instead of talking to the wrong node."""
    import os

    assert _listener_pids(listener) == {os.getpid()}
    with Anvil() as other:  # a node that answers JSON-RPC on its port, as ours would
        assert _listener_pids(other.port) == {other.process.pid if other.process else -1}
        with pytest.raises(PortTakenError):
            Anvil(port=other.port).start()
        assert _chain_id(other.url) == other.chain_id  # the other node is untouched


async def test_quick_restart_gets_the_same_port(settings: Settings) -> None:
    first = await start_dev_chain(settings)
    try:
        assert first.port == settings.dev_chain_port
        for _ in range(3):
            _chain_id(first.url)
    finally:
        await asyncio.to_thread(first.stop)
    second = await start_dev_chain(settings)
    try:
        assert second.port == first.port
        assert _chain_id(second.url) == first.chain_id
    finally:
        await asyncio.to_thread(second.stop)
    assert not (settings.data_dir / ANVIL_PID_FILE).exists()  # a clean stop forgets its pid


async def test_a_port_chosen_because_the_configured_one_was_taken_is_kept(
    tmp_path: Path, listener: int
) -> None:
    settings = Settings(data_dir=tmp_path / "data", dev_chain_port=listener)
    first = await start_dev_chain(settings)
    await asyncio.to_thread(first.stop)
    assert first.port != listener
    saved = json.loads((settings.data_dir / ANVIL_PORT_FILE).read_text())
    assert saved == {"configured": listener, "port": first.port}
    second = await start_dev_chain(settings)
    try:
        assert second.port == first.port
    finally:
        await asyncio.to_thread(second.stop)
    # another configured port is taken at its word
    moved = Settings(data_dir=settings.data_dir, dev_chain_port=free_port())
    third = await start_dev_chain(moved)
    try:
        assert third.port == moved.dev_chain_port
    finally:
        await asyncio.to_thread(third.stop)


async def test_an_anvil_left_by_a_previous_run_is_stopped_first(settings: Settings) -> None:
    data = settings.data_dir.resolve()
    data.mkdir(parents=True)
    state_file, pid_file = data / ANVIL_STATE_FILE, data / ANVIL_PID_FILE
    leftover = Anvil(port=settings.dev_chain_port, state_file=state_file, pid_file=pid_file)
    leftover.start()
    proc, leftover.process = leftover.process, None  # as if its parent had crashed without stopping it
    assert proc is not None
    assert anvil_pid_from(pid_file, state_file) == proc.pid
    try:
        fresh = await start_dev_chain(settings)
        try:
            assert proc.poll() is not None  # stopped (SIGTERM: it dumped its state)
            assert fresh.port == settings.dev_chain_port  # the port it held is ours again
            assert pid_file.read_text().strip() == str(fresh.process.pid if fresh.process else None)
            assert _chain_id(fresh.url) == fresh.chain_id
        finally:
            await asyncio.to_thread(fresh.stop)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_a_pid_file_naming_another_program_or_state_file_stops_nothing(tmp_path: Path) -> None:
    state_file, pid_file = tmp_path / ANVIL_STATE_FILE, tmp_path / ANVIL_PID_FILE
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        pid_file.write_text(f"{other.pid}\n")
        assert anvil_pid_from(pid_file, state_file) is None
        with Anvil(state_file=tmp_path / "elsewhere.json") as node:
            assert node.process is not None
            pid_file.write_text(f"{node.process.pid}\n")
            assert anvil_pid_from(pid_file, state_file) is None  # an anvil, but on another state file
            assert anvil_pid_from(pid_file, tmp_path / "elsewhere.json") == node.process.pid
        with Anvil(state_file=state_file, pid_file=pid_file) as node:  # starts despite the foreign pid
            assert node.process is not None and pid_file.read_text().strip() == str(node.process.pid)
        assert other.poll() is None  # never signalled
    finally:
        other.kill()
        other.wait()


PARENT = """
import asyncio, sys
from pathlib import Path
from engine.runtime import start_dev_chain
from engine.settings import Settings

async def main():
    anvil = await start_dev_chain(Settings(data_dir=Path(sys.argv[1]), dev_chain_port=int(sys.argv[2])))
    print(anvil.process.pid, flush=True)
    await asyncio.sleep(600)

asyncio.run(main())
"""


def test_anvil_dies_with_a_killed_parent(settings: Settings) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(settings.data_dir), str(settings.dev_chain_port)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()
        assert line.strip(), "the parent did not start anvil"
        anvil_pid = int(line)
        assert _proc_alive(anvil_pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert _wait_gone(anvil_pid), "anvil outlived its SIGKILLed parent"
        assert (settings.data_dir / ANVIL_STATE_FILE).exists()  # SIGTERM: it dumped its state on the way
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
    # the next run starts cleanly on the same port
    with Anvil(
        port=settings.dev_chain_port,
        state_file=(settings.data_dir / ANVIL_STATE_FILE).resolve(),
        pid_file=(settings.data_dir / ANVIL_PID_FILE).resolve(),
    ) as again:
        assert _chain_id(again.url) == again.chain_id
