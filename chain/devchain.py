"""Local development chains: an anvil process (npm ``@foundry-rs/anvil-linux-amd64``) or eth-tester.

:class:`Anvil` starts anvil on a free loopback port, waits until it answers JSON-RPC, and stops it. With
``state_file`` it loads and periodically dumps its state (``--state`` / ``--state-interval``), so a restart
keeps contracts, balances and leases. eth-tester is just ``connect("eth-tester://")``.

One anvil per state file, and none outlives its parent:

- With ``pid_file`` the process id is written there; the next :meth:`Anvil.start` on that pid file first
  stops the anvil it names (:func:`stop_stale_anvil`), but only when ``/proc/<pid>/cmdline`` shows an
  anvil on the same state file (a recycled pid is left alone).
- On Linux anvil is spawned with ``PR_SET_PDEATHSIG`` = SIGTERM (it dumps its state and exits when its
  parent dies, even by SIGKILL). The kernel sends it when the *thread* that spawned anvil ends, so
  :meth:`Anvil.start_async` spawns in the event loop's thread, never in a short-lived worker thread.
- :func:`port_free` probes with ``SO_REUSEADDR``, as anvil binds: a port whose last connections sit in
  TIME_WAIT after a restart is free for anvil and must look free (else a quick restart moves the chain).

:func:`rpc` sends the dev-chain control methods (``evm_mine``, ``evm_increaseTime``, ``evm_snapshot`` /
``evm_revert``, ``evm_setAutomine``, ``anvil_reorg``, ``anvil_setBalance``...) over a
:class:`~chain.connect.ChainConnection`; :func:`dev_signer_key` names the funded key of a dev chain.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chain import jsonrpc
from chain.connect import ChainConnection
from chain.errors import ChainError, DevChainError

REPO_ROOT = Path(__file__).resolve().parents[1]
ANVIL_NPM_BIN = REPO_ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"

# anvil's default mnemonic "test test ... junk" account 0; public, dev chains only.
ANVIL_ACCOUNT0_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ANVIL_DEFAULT_CHAIN_ID = 31337


def dev_signer_key(conn: ChainConnection) -> str:
    """The funded, publicly known key of a local dev chain (refuses any other chain)."""
    if conn.prefunded_key is not None:
        return conn.prefunded_key
    if conn.chain_id == ANVIL_DEFAULT_CHAIN_ID:
        return ANVIL_ACCOUNT0_KEY
    raise ChainError(f"chain {conn.chain_id} at {conn.url} is not a known dev chain: no dev signer key")


async def rpc(conn: ChainConnection, method: str, *params: Any) -> Any:
    """Send one raw JSON-RPC request (dev-chain controls) and return its ``result``.

    An error answer raises :class:`~chain.errors.RpcError` (e.g. an ``anvil_*`` method on eth-tester).
    """
    return await jsonrpc.call_ok(conn, method, params)


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


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on ``host:port`` now.

    The probe sets ``SO_REUSEADDR`` like every server (anvil included): without it, connections of a
    just-stopped server left in TIME_WAIT make the port look taken for a minute. A live listener still
    makes the bind fail.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _proc_alive(pid: int) -> bool:
    """``pid`` exists and is not a zombie (a dead child nobody reaped yet counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # "pid (comm) S ...": comm may hold spaces and parentheses; the state follows the last ')'
    state = stat[stat.rfind(")") + 2 :][:1]
    return state not in ("Z", "X", "")


def _anvil_state_of(pid: int) -> Path | None:
    """The ``--state`` file of process ``pid`` when it is an anvil (read from /proc), else None."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None
    args = [a.decode(errors="replace") for a in argv if a]
    if not args or Path(args[0]).name != "anvil" or "--state" not in args[:-1]:
        return None
    return (Path(cwd) / args[args.index("--state") + 1]).resolve()


def anvil_pid_from(pid_file: Path, state_file: Path) -> int | None:
    """The live anvil on ``state_file`` named by ``pid_file``, or None (no file, dead, or another
    program or another state file under that pid)."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    if pid <= 0 or pid == os.getpid() or not _proc_alive(pid):
        return None
    return pid if _anvil_state_of(pid) == state_file.resolve() else None


def stop_stale_anvil(pid_file: Path, state_file: Path, timeout: float = 10.0) -> int | None:
    """Stop the anvil a previous run left on ``state_file`` (found through ``pid_file``); return its pid.

    SIGTERM first (anvil dumps its state), SIGKILL after ``timeout``. The pid file is removed either way.
    """
    pid = anvil_pid_from(pid_file, state_file)
    if pid is not None:
        _signal_and_wait(pid, timeout)
    pid_file.unlink(missing_ok=True)
    return pid


def _signal_and_wait(pid: int, timeout: float) -> None:
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _proc_alive(pid):
                return
            time.sleep(0.02)
    raise DevChainError(f"the previous anvil (pid {pid}) did not exit")


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking the kernel to SIGTERM the child when the spawning thread ends (Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork
    parent = os.getpid()
    sigterm = int(signal.SIGTERM)  # SIGTERM, not SIGKILL: anvil dumps --state on its way out

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, sigterm)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def _rpc_ready(url: str) -> bool:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=1) as resp:  # noqa: S310 — loopback URL we built
            return bool(resp.status == 200)
    except OSError:
        return False


def _listener_pids(port: int) -> set[int] | None:
    """The pids holding a socket that LISTENs on ``port`` (IPv4/IPv6), from ``/proc``; ``None`` when
    ``/proc`` cannot tell (not Linux). Used to check that the anvil answering on a port is the one we
    spawned: between :func:`free_port` and anvil's bind another program may take the port, and our anvil
    then exits while the other one answers."""
    inodes: set[str] = set()
    try:
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with contextlib.suppress(FileNotFoundError):
                for line in Path(table).read_text().splitlines()[1:]:
                    cols = line.split()
                    # local_address is HEX_IP:HEX_PORT; state 0A is LISTEN
                    if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add(cols[9])
    except OSError:
        return None
    if not inodes:
        return set()
    wanted = {f"socket:[{inode}]" for inode in inodes}
    pids: set[int] = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in wanted:
                        pids.add(int(proc.name))
                        break
    return pids


def _descends_from(pid: int, ancestor: int, depth: int = 4) -> bool:
    """``pid`` is ``ancestor`` or its child, grandchild... (an ``CLOUDMARKET_ANVIL_BIN`` wrapper may fork)."""
    for _ in range(depth):
        if pid == ancestor:
            return True
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            pid = int(stat.rsplit(")", 1)[1].split()[1])  # the field after the state: ppid
        except (OSError, ValueError, IndexError):
            return False
    return pid == ancestor


class PortTakenError(DevChainError):
    """Our anvil could not listen: another program holds the port."""


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
    # where the pid is kept so the next start on this state file can stop a leftover (needs state_file)
    pid_file: Path | None = None
    die_with_parent: bool = True  # Linux: PR_SET_PDEATHSIG, see the module docstring
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

    # attempts when the port was picked here (port=0) and another program took it before anvil's bind
    PORT_ATTEMPTS = 3

    def start(self, timeout: float = 20.0) -> Anvil:
        """Stop a leftover anvil of ``pid_file``, spawn anvil (in this thread) and wait until it answers.
        A port picked here that another program takes first is picked again."""
        picked = self.port == 0
        self.prepare()
        for attempt in range(self.PORT_ATTEMPTS if picked else 1):
            self.spawn()
            try:
                self.wait_ready(timeout)
                return self
            except PortTakenError:
                if attempt + 1 == self.PORT_ATTEMPTS or not picked:
                    raise
                self.port = free_port()
        return self

    async def start_async(self, timeout: float = 20.0) -> Anvil:  # noqa: ASYNC109  (anvil's start-up deadline)
        """:meth:`start` for an event loop: anvil is spawned in the loop's thread (``PR_SET_PDEATHSIG``
        fires when the spawning thread ends); the blocking waits run in worker threads."""
        picked = self.port == 0
        await asyncio.to_thread(self.prepare)
        for attempt in range(self.PORT_ATTEMPTS if picked else 1):
            self.spawn()
            try:
                await asyncio.to_thread(self.wait_ready, timeout)
                return self
            except PortTakenError:
                if attempt + 1 == self.PORT_ATTEMPTS or not picked:
                    raise
                self.port = free_port()
            except BaseException:  # cancelled while waiting: do not leave it running
                await asyncio.to_thread(self.stop)
                raise
        return self

    def prepare(self) -> None:
        """Stop the anvil a previous run left on our state file, then pick a free port if none is set."""
        if self.pid_file is not None:
            if self.state_file is None:
                raise DevChainError("an anvil pid file needs a state file")
            stop_stale_anvil(self.pid_file, self.state_file)
        if self.port == 0:
            self.port = free_port()

    def spawn(self) -> None:
        """Start the process (quick: fork and exec) and record its pid."""
        if self.port == 0:
            self.port = free_port()
        out: Any = subprocess.DEVNULL
        if self.log_file is not None:
            out = self._log_handle = open(self.log_file, "ab")  # closed in stop()
        self.process = subprocess.Popen(
            self.command(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent() if self.die_with_parent else None,
        )
        if self.pid_file is not None:
            tmp = self.pid_file.with_name(self.pid_file.name + ".tmp")
            tmp.write_text(f"{self.process.pid}\n")
            tmp.replace(self.pid_file)

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Wait until anvil answers JSON-RPC; stop it and raise :class:`DevChainError` otherwise."""
        if self.process is None:
            raise DevChainError("anvil was not spawned")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.stop()
                holders = _listener_pids(self.port)
                if holders:  # our anvil could not bind: someone else listens there
                    raise PortTakenError(f"port {self.port} is taken (pids {sorted(holders)}); anvil exited")
                raise DevChainError(f"anvil exited with {code}: {' '.join(self.command())}")
            if _rpc_ready(self.url):
                holders = _listener_pids(self.port)
                if holders is None or any(_descends_from(pid, self.process.pid) for pid in holders):
                    return
                # another program's node answers on the port: ours is failing to bind (or about to)
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
            if proc is not None and self.pid_file is not None:
                self._forget_pid(self.pid_file, proc.pid)

    @staticmethod
    def _forget_pid(pid_file: Path, pid: int) -> None:
        try:
            if pid_file.read_text().strip() == str(pid):  # a newer anvil's file is not ours to remove
                pid_file.unlink()
        except (OSError, ValueError):
            pass

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
        return await self.start_async()

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)
