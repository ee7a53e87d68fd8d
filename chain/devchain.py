"""Local development chains: an anvil process (npm ``@foundry-rs/anvil-linux-amd64``) or in-process eth-tester.

:class:`Anvil` starts anvil on a free loopback port, waits until it answers JSON-RPC, and stops it. With
``state_file`` it loads and periodically dumps its state (``--state`` / ``--state-interval``), so a restart
keeps contracts, balances and leases.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from chain.errors import DevChainError

REPO_ROOT = Path(__file__).resolve().parents[1]
ANVIL_NPM_BIN = REPO_ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"

# anvil's default mnemonic "test test ... junk" account 0; public, dev chains only.
ANVIL_ACCOUNT0_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ANVIL_DEFAULT_CHAIN_ID = 31337


def anvil_binary() -> Path:
    env = os.environ.get("CLOUDMARKET_ANVIL_BIN")
    if env:
        return Path(env)
    if ANVIL_NPM_BIN.exists():
        return ANVIL_NPM_BIN
    found = shutil.which("anvil")
    if found:
        return Path(found)
    raise DevChainError("anvil not found: run `npm ci` (package @foundry-rs/anvil-linux-amd64)")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rpc_ready(url: str) -> bool:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=1) as resp:  # noqa: S310 — loopback URL we built
            return resp.status == 200
    except OSError:
        return False


@dataclass
class Anvil:
    """A running anvil. Use :meth:`start` / :meth:`stop`, or as a (sync or async) context manager."""

    port: int = 0
    chain_id: int = ANVIL_DEFAULT_CHAIN_ID
    block_time: float | None = None  # None: automine (a block per transaction)
    no_mining: bool = False
    state_file: Path | None = None
    state_interval: int = 5
    extra_args: list[str] = field(default_factory=list)
    log_file: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [str(anvil_binary()), "--host", "127.0.0.1", "--port", str(self.port),
               "--chain-id", str(self.chain_id), "--silent"]
        if self.block_time is not None:
            cmd += ["--block-time", str(self.block_time)]
        if self.no_mining:
            cmd += ["--no-mining"]
        if self.state_file is not None:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            cmd += ["--state", str(self.state_file), "--state-interval", str(self.state_interval)]
        return cmd + self.extra_args

    def start(self, timeout: float = 20.0) -> Anvil:
        if self.port == 0:
            self.port = free_port()
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise DevChainError(f"anvil exited with {self.process.returncode}: {' '.join(self.command())}")
            if _rpc_ready(self.url):
                return self
            time.sleep(0.05)
        self.stop()
        raise DevChainError(f"anvil did not answer on {self.url} within {timeout}s")

    def stop(self, timeout: float = 10.0) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        # SIGTERM lets anvil dump --state on exit.
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> Anvil:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Anvil:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)
