"""Helpers for the workloads end-to-end test: the real service (``python -m api.cli serve``) and real node
agents (``python -m api.cli node run``) as subprocesses, an HTTP client, wallets that sign what the API
returns, an SSE reader, and a /proc scan for processes left behind.

Every child runs in its own session (process group), so stopping one reaches its children; workloads
started by an agent run in sessions of their own and are found by :func:`marked_processes` (their
command line or working directory lies under the test's root directory).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, overload

import aiohttp
from eth_account import Account
from eth_account.messages import encode_defunct

from api.nodeagent import procfs
from chain.connect import ChainConnection
from chain.deploy import send_transaction
from chain.signer import LocalSigner
from engine.identity.siwe_message import SiweMessage

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


class WaitTimeout(AssertionError):
    """A bounded wait ran out; ``what`` names the awaited condition, ``last`` the last value seen."""

    def __init__(self, what: str, last: Any) -> None:
        super().__init__(f"timed out waiting for {what}; last seen: {last!r}")
        self.what = what
        self.last = last


@overload
async def wait_until(
    what: str, probe: Callable[[], Awaitable[T]], ok: Callable[[T], bool], limit: float, every: float = ...
) -> T: ...
@overload
async def wait_until(
    what: str, probe: Callable[[], T], ok: Callable[[T], bool], limit: float, every: float = ...
) -> T: ...
async def wait_until(
    what: str, probe: Callable[[], Any], ok: Callable[[Any], bool], limit: float, every: float = 0.05
) -> Any:
    """Call ``probe`` (plain or async) until ``ok`` holds for its value (returned), at most ``limit`` s."""
    deadline = time.monotonic() + limit
    while True:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if ok(value):
            return value
        if time.monotonic() > deadline:
            raise WaitTimeout(what, value)
        await asyncio.sleep(every)


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDMARKET_")}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


def _stop_group(proc: subprocess.Popen[bytes], grace: float) -> int:
    """SIGTERM the child's process group, SIGKILL it after ``grace`` seconds; the exit status."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    try:  # whatever is left in the group (the leader may be gone while a child lingers)
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return proc.wait()


class ServiceProcess:
    """``python -m api.cli serve`` on a free port, SQLite and the dev issuer in ``data_dir``; the suite is
    deployed first with ``python -m api.cli deploy`` (``serve`` never deploys)."""

    def __init__(self, data_dir: Path, port: int, settings: dict[str, str]) -> None:
        self.data_dir = data_dir
        self.base = f"http://127.0.0.1:{port}"
        self.log = data_dir.parent / "service.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        env = _child_env(
            {
                "CLOUDMARKET_DATA_DIR": str(data_dir),
                "CLOUDMARKET_HTTP_PORT": str(port),
                "CLOUDMARKET_LOG_FORMAT": "text",
                **settings,
            }
        )
        with open(self.log, "wb") as out:
            subprocess.run(
                [sys.executable, "-m", "api.cli", "deploy"],
                cwd=data_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=out,
                check=True,
                timeout=180,
            )
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "api.cli", "serve"],
                cwd=data_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self, tail: int = 6000) -> str:
        return self.log.read_text(errors="replace")[-tail:]

    async def wait_ready(self, http: aiohttp.ClientSession, limit: float) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the service exited with {self.proc.returncode}:\n{self.output()}")
            try:
                async with http.get(self.base + "/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        raise AssertionError(f"the service was not ready within {limit}s:\n{self.output()}")

    def stop(self) -> int:
        return _stop_group(self.proc, grace=15)


class AgentProcess:
    """``python -m api.cli node run --runtime process`` for one node, its state under ``state_dir``."""

    def __init__(self, api: str, node_id: int, token: str, state_dir: Path, wait: int = 5) -> None:
        self.node_id = node_id
        self.state_dir = state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        token_file = state_dir.parent / f"node-{node_id}.token"
        token_file.write_text(token + "\n")
        token_file.chmod(0o600)
        self.log = state_dir.parent / f"agent-{node_id}.log"
        args = ["--api", api, "--node-id", str(node_id), "--token-file", str(token_file)]
        args += ["--runtime", "process", "--state-dir", str(state_dir), "--wait", str(wait)]
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "api.cli", "node", "run", *args],
                cwd=state_dir,
                env=_child_env({"CLOUDMARKET_LOG_FORMAT": "text"}),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self, tail: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-tail:]

    def kill(self) -> int:
        """SIGKILL, no cleanup (a machine losing power); its workloads are in sessions of their own."""
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.wait()

    def stop(self) -> int:
        return _stop_group(self.proc, grace=10)


# ---- processes -----------------------------------------------------------------------------------------
def alive(pid: int) -> bool:
    stat = procfs.read_stat(pid)
    return stat is not None and stat.alive


def cwd_of(pid: int) -> Path | None:
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return None


def marked_processes(root: Path) -> list[tuple[int, str]]:
    """Live processes (not zombies) whose command line mentions ``root`` or whose cwd lies under it."""
    mark = str(root)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        pid = int(entry.name)
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        cwd = cwd_of(pid)
        if (mark in cmdline or (cwd is not None and str(cwd).startswith(mark))) and alive(pid):
            found.append((pid, cmdline.strip()))
    return found


def kill_marked(root: Path) -> list[tuple[int, str]]:
    """SIGKILL every process :func:`marked_processes` finds (and its group), wait for them; what was found."""
    found = marked_processes(root)
    kill_and_wait([pid for pid, _ in found])
    return found


def kill_and_wait(pids: list[int], limit: float = 10.0) -> list[int]:
    """SIGKILL each pid (and its group), then wait until none is alive; those still alive after ``limit``."""
    for pid in pids:
        for send in (os.killpg, os.kill):
            try:
                send(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    deadline = time.monotonic() + limit
    while (left := [p for p in pids if alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.02)
    return left


def read_pids(path: Path) -> list[int]:
    return [int(x) for x in path.read_text().split()] if path.exists() else []


# ---- HTTP ----------------------------------------------------------------------------------------------
@dataclass
class Http:
    """The API over real HTTP; ``call`` checks the status and returns the JSON body."""

    session: aiohttp.ClientSession
    base: str

    async def call(
        self, method: str, path: str, headers: dict[str, str] | None, status: int | None, **kw: Any
    ) -> Any:
        async with self.session.request(method, self.base + path, headers=headers, **kw) as resp:
            text = await resp.text()
            if status is not None:
                assert resp.status == status, f"{method} {path}: {resp.status} {text}"
            return json.loads(text) if text else None

    async def status_and_json(self, method: str, path: str, headers: dict[str, str], **kw: Any) -> Any:
        async with self.session.request(method, self.base + path, headers=headers, **kw) as resp:
            return resp.status, json.loads(await resp.text() or "null")


@dataclass(frozen=True)
class SseEvent:
    id: int
    event: str
    data: dict[str, Any]


async def sse_events(
    http: Http, path: str, headers: dict[str, str], last_event_id: int | None = None
) -> AsyncGenerator[SseEvent, None]:
    """The events of one SSE connection, in order, until the server ends the stream (or the caller
    stops iterating, which closes the connection)."""
    h = dict(headers)
    if last_event_id is not None:
        h["Last-Event-ID"] = str(last_event_id)
    async with http.session.get(http.base + path, headers=h) as resp:
        assert resp.status == 200, await resp.text()
        fields: dict[str, str] = {}
        async for raw in resp.content:
            line = raw.decode().rstrip("\r\n")
            if line.startswith(":"):
                continue
            if line:
                key, _, value = line.partition(":")
                fields[key] = value.removeprefix(" ")
                continue
            if "data" in fields:
                yield SseEvent(int(fields["id"]), fields.get("event", "message"), json.loads(fields["data"]))
            fields = {}


# ---- wallets -------------------------------------------------------------------------------------------
class Wallet:
    """A user's own key: signs SIWE messages and the unsigned transactions the API hands out."""

    def __init__(self) -> None:
        self._account = Account.create()
        self.signer = LocalSigner(self._account.key.hex())
        self.address: str = self.signer.address

    def sign_text(self, text: str) -> str:
        signature: bytes = self._account.sign_message(encode_defunct(text=text)).signature
        return "0x" + signature.hex().removeprefix("0x")

    async def send_all(self, conn: ChainConnection, txs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for tx in txs:
            assert tx["from"] == self.address and tx["chainId"] == conn.chain_id, tx
            out.append(
                await send_transaction(
                    conn, self.signer, to=tx["to"], data=bytes.fromhex(tx["data"][2:]), value=tx["value"]
                )
            )
        return out

    async def link(self, http: Http, headers: dict[str, str]) -> None:
        """Sign in with Ethereum as the signed-in user ``headers``: the wallet is linked to that user."""
        n = await http.call("POST", "/api/auth/siwe/nonce", None, 201)
        text = SiweMessage(
            domain=n["domain"],
            address=self.address,
            uri=n["uri"],
            version="1",
            chain_id=n["chain_id"],
            nonce=n["nonce"],
            issued_at="2020-01-01T00:00:00Z",
        ).to_text()
        body = {"message": text, "signature": self.sign_text(text)}
        linked = await http.call("POST", "/api/auth/siwe/verify", headers, 200, json=body)
        assert linked["linked"] is True and linked["address"] == self.address
