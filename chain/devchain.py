"""Local development chains: an anvil process (npm ``@foundry-rs/anvil-linux-amd64``) or eth-tester.

:class:`Anvil` starts anvil on a free loopback port, waits until it answers JSON-RPC, and stops it. With
``state_file`` it loads and periodically dumps its state (``--state`` / ``--state-interval``), so a restart
keeps contracts, balances and leases. eth-tester is just ``connect("eth-tester://")``.

:func:`rpc` sends the dev-chain control methods (``evm_mine``, ``evm_increaseTime``, ``evm_snapshot`` /
``evm_revert``, ``evm_setAutomine``, ``anvil_reorg``, ``anvil_setBalance``...) over a
:class:`~chain.connect.ChainConnection`; :func:`dev_signer_key` names the funded key of a dev chain.
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
from typing import Any

from web3.exceptions import Web3RPCError

from chain.connect import ChainConnection
from chain.errors import ChainError, DevChainError, RpcError

REPO_ROOT = Path(__file__).resolve().parents[1]
ANVIL_NPM_BIN = REPO_ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"

# anvil's default mnemonic "test test ... junk" account 0; public, dev chains only.
ANVIL_ACCOUNT0_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ANVIL_DEFAULT_CHAIN_ID = 31337
# eth-tester funds the accounts of private keys 1..10; public, dev chains only.
ETH_TESTER_ACCOUNT0_KEY = "0x" + "00" * 31 + "01"


def dev_signer_key(conn: ChainConnection) -> str:
    """The funded, publicly known key of a local dev chain (refuses any other chain)."""
    if conn.kind == "eth-tester":
        return ETH_TESTER_ACCOUNT0_KEY
    if conn.chain_id == ANVIL_DEFAULT_CHAIN_ID:
        return ANVIL_ACCOUNT0_KEY
    raise ChainError(f"chain {conn.chain_id} at {conn.url} is not a known dev chain: no dev signer key")


async def rpc(conn: ChainConnection, method: str, *params: Any) -> Any:
    """Send one raw JSON-RPC request (dev-chain controls) and return its ``result``.

    An error answer raises :class:`~chain.errors.RpcError` (e.g. an ``anvil_*`` method on eth-tester).
    """
    provider: Any = conn.w3.provider
    try:
        response = await provider.make_request(method, list(params))
    except ChainError:
        raise
    except Web3RPCError as exc:  # persistent (ws) providers raise error answers instead of returning them
        failure: Any = (exc.rpc_response or {}).get("error") or {}
        raise RpcError(
            method, failure.get("code"), str(failure.get("message", exc)), failure.get("data")
        ) from exc
    except Exception as exc:  # providers raise assorted transport errors
        raise RpcError(method, None, f"{type(exc).__name__}: {exc}") from exc
    error: Any = response.get("error")
    if error is not None:
        if isinstance(error, dict):
            raise RpcError(method, error.get("code"), str(error.get("message", "")), error.get("data"))
        raise RpcError(method, None, str(error))
    return response.get("result")


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
            return bool(resp.status == 200)
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
    _log_handle: Any = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [
            str(anvil_binary()),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--chain-id",
            str(self.chain_id),
            "--silent",
        ]
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
        out: Any = subprocess.DEVNULL
        if self.log_file is not None:
            out = self._log_handle = open(self.log_file, "ab")  # closed in stop()
        self.process = subprocess.Popen(
            self.command(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                raise DevChainError(f"anvil exited with {code}: {' '.join(self.command())}")
            if _rpc_ready(self.url):
                return self
            time.sleep(0.05)
        self.stop()
        raise DevChainError(f"anvil did not answer on {self.url} within {timeout}s")

    def stop(self, timeout: float = 10.0) -> None:
        proc, self.process = self.process, None
        handle, self._log_handle = self._log_handle, None
        try:
            self._terminate(proc, timeout)
        finally:
            if handle is not None:
                handle.close()

    @staticmethod
    def _terminate(proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
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
