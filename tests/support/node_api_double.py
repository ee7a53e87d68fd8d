"""Test double of the SERVER side of the node agent protocol (/tmp/protocol.md), plus real leases on anvil.

:class:`FakeNodeApi` speaks the protocol over real HTTP (aiohttp, 127.0.0.1): the desired-state long-poll
with cursors, heartbeats (recorded), ``GET /api/chain`` (pointing at a real anvil and a really deployed
escrow), bearer-token auth, and injectable 503s. It stands in for the engine, an external party from the
agent's point of view; the agent under test is real.

:class:`LeaseBook` opens real leases on anvil: a provider registers and is approved, adds nodes, and a
user opens ``DeploymentEscrow`` leases with chosen spec hashes, so ``LeaseOpened`` logs are real.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from eth_account import Account

from chain.artifacts import load_artifact
from chain.connect import ChainConnection
from chain.contracts import CreditTokenClient, EscrowClient, RegistryClient
from chain.deploy import Manifest, deploy_suite, send_transaction
from chain.devchain import dev_signer_key, rpc
from chain.quotes import Quoter
from chain.signer import LocalSigner
from engine.settings import DEV_QUOTE_SIGNER_KEY

COLLATERAL = 200 * 10**6
BIG = 10**15
_refs = iter(range(1, 10**9))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LeaseBook:
    conn: ChainConnection
    signer: LocalSigner
    manifest: Manifest
    node_ids: list[int] = field(default_factory=list)
    user: LocalSigner | None = None

    @classmethod
    async def create(cls, conn: ChainConnection, manifest_dir: Path, nodes: int = 2) -> LeaseBook:
        signer = LocalSigner(dev_signer_key(conn))
        quoter = Quoter(bytes.fromhex(DEV_QUOTE_SIGNER_KEY[2:]), conn.chain_id, "0x" + "00" * 20, 3600)
        manifest = await deploy_suite(conn, signer, manifest_dir=manifest_dir, quote_signer=quoter.address)
        book = cls(conn, signer, manifest)
        provider = await book._wallet(COLLATERAL)
        await book._send(provider, book.token.address, book.token.encode_approve(book.registry.address, BIG))
        await book._send(provider, book.registry.address, book.registry.encode_register(COLLATERAL))
        await book._send(
            signer, book.registry.address, book.registry.encode_approve_provider(provider.address)
        )
        for _ in range(nodes):
            await book._send(provider, book.registry.address, book.registry.encode_add_node())
            book.node_ids.append(await book.registry.node_count())
        book.user = await book._wallet(10**12)
        await book._send(book.user, book.token.address, book.token.encode_approve(book.escrow.address, BIG))
        return book

    @property
    def token(self) -> CreditTokenClient:
        return CreditTokenClient(self.conn.w3, self.manifest.address("CreditToken"))

    @property
    def registry(self) -> RegistryClient:
        return RegistryClient(self.conn.w3, self.manifest.address("ProviderRegistry"))

    @property
    def escrow(self) -> EscrowClient:
        return EscrowClient(self.conn.w3, self.manifest.address("DeploymentEscrow"))

    def chain_info(self, rpc_url: str) -> dict[str, Any]:
        """What ``GET /api/chain`` answers (the real route's shape)."""
        return {
            "chain_id": self.conn.chain_id,
            "rpc_url": rpc_url,
            "confirmations": 0,
            "contracts": {
                name: {"address": self.manifest.address(name), "abi": load_artifact(name).abi}
                for name in sorted(self.manifest.contracts)
            },
        }

    async def open_lease(self, chain_node_id: int, spec_hash: bytes) -> int:
        """Open a real lease (the user pays) and return its id, read from the ``LeaseOpened`` log."""
        assert self.user is not None
        now = int((await self.conn.w3.eth.get_block("latest"))["timestamp"])
        quoter = Quoter(
            bytes.fromhex(DEV_QUOTE_SIGNER_KEY[2:]), self.conn.chain_id, self.escrow.address, 3600
        )
        quote = quoter.sign(quoter.quote(self.user.address, chain_node_id, 1_000, spec_hash, now=now))
        receipt = await self._send(
            self.user,
            self.escrow.address,
            self.escrow.encode_open(chain_node_id, 1_000, 10**9, spec_hash, quote),
        )
        escrow = self.escrow.address.lower()
        for entry in receipt["logs"]:
            if str(entry["address"]).lower() == escrow and len(entry["topics"]) == 4:
                return int.from_bytes(bytes(entry["topics"][1]), "big")
        raise AssertionError(f"no LeaseOpened in {receipt}")

    async def _wallet(self, credit: int) -> LocalSigner:
        wallet = LocalSigner(Account.create().key.hex())
        await rpc(self.conn, "anvil_setBalance", wallet.address, hex(10**19))
        ref = (0xA6E << 200 | next(_refs)).to_bytes(32, "big")
        await self._send(self.signer, self.token.address, self.token.encode_mint(wallet.address, credit, ref))
        return wallet

    async def _send(self, who: LocalSigner, to: str, data: bytes) -> dict[str, Any]:
        receipt = await send_transaction(self.conn, who, to=to, data=data)
        assert receipt["status"] == 1, receipt
        return receipt


class FakeNodeApi:
    """The node API, faked: one node id, one token, a desired list the test edits."""

    def __init__(self, node_id: int, token: str, chain_info: dict[str, Any], *, heartbeat_interval: int = 1):
        self.node_id = node_id
        self.token = token
        self.chain_info = chain_info
        self.heartbeat_interval = heartbeat_interval
        self.workloads: list[dict[str, Any]] = []
        self.version = 1
        self.fail_next = 0  # answer this many protected requests with 503
        self.heartbeats: list[dict[str, Any]] = []
        self.polls = 0
        self.failures_served = 0
        self._changed = asyncio.Event()
        self._hb = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set_workloads(self, workloads: list[dict[str, Any]]) -> None:
        self.workloads = list(workloads)
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    async def start(self, port: int = 0) -> FakeNodeApi:
        app = web.Application()
        app.router.add_get("/api/chain", self._chain)
        app.router.add_get("/api/cloud-provider/nodes/{node_id}/workloads", self._workloads)
        app.router.add_post("/api/cloud-provider/nodes/{node_id}/heartbeat", self._heartbeat)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port, reuse_address=True)
        await site.start()
        server: Any = site._server
        self.port = int(server.sockets[0].getsockname()[1])
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            self._changed.set()  # release held polls
            await self._runner.cleanup()
            self._runner = None

    async def wait_heartbeat(
        self, predicate: Callable[[dict[str, Any]], bool], limit: float = 30, *, since: int = 0
    ) -> Any:
        """The first heartbeat recorded at index ``since`` or later (old or new) satisfying ``predicate``."""
        async with asyncio.timeout(limit), self._hb:
            while True:
                for hb in self.heartbeats[since:]:
                    if predicate(hb):
                        return hb
                await self._hb.wait()

    # -- handlers ------------------------------------------------------------------------------------

    def _auth(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response(
                {"error": {"code": "unauthorized", "message": "invalid node token", "details": {}}},
                status=401,
            )
        if int(request.match_info["node_id"]) != self.node_id:
            return web.json_response(
                {"error": {"code": "forbidden", "message": "token is for another node", "details": {}}},
                status=403,
            )
        if self.fail_next > 0:
            self.fail_next -= 1
            self.failures_served += 1
            return web.json_response({"error": {"code": "internal", "message": "boom"}}, status=503)
        return None

    async def _chain(self, _request: web.Request) -> web.Response:
        return web.json_response(self.chain_info)

    async def _workloads(self, request: web.Request) -> web.Response:
        if (denied := self._auth(request)) is not None:
            return denied
        self.polls += 1
        wait = min(max(int(request.query.get("wait", "30")), 0), 60)
        cursor = request.query.get("cursor")
        changed = cursor != str(self.version)
        if not changed and wait > 0:
            event = self._changed
            try:
                async with asyncio.timeout(wait):
                    await event.wait()
                changed = True
            except TimeoutError:
                pass
        return web.json_response(
            {
                "node_id": self.node_id,
                "cursor": str(self.version),
                "changed": changed,
                "workloads": self.workloads,
            }
        )

    async def _heartbeat(self, request: web.Request) -> web.Response:
        if (denied := self._auth(request)) is not None:
            return denied
        body = await request.json()
        async with self._hb:
            self.heartbeats.append(body)
            self._hb.notify_all()
        return web.json_response(
            {
                "ok": True,
                "server_time": "2025-01-01T00:00:00+00:00",
                "heartbeat_interval": self.heartbeat_interval,
            }
        )


def workload(
    workload_id: str,
    lease_id: int,
    chain_node_id: int,
    spec_hash: bytes,
    command: list[str] | None,
    *,
    restart_policy: str = "on-failure",
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One desired-state entry as the protocol spells it."""
    return {
        "workload_id": workload_id,
        "deployment_id": 1,
        "replica": 0,
        "role": "primary",
        "lease_id": str(lease_id),
        "chain_node_id": chain_node_id,
        "spec_hash": "0x" + spec_hash.hex(),
        "command": command,
        "image": None,
        "env": env or {},
        "ports": [],
        "resources": {"cpu_millicores": 100, "memory_mb": 64, "disk_gb": 1, "gpu_count": 0},
        "restart_policy": restart_policy,
    }


async def lease_book(anvil_url: str, manifest_dir: Path) -> tuple[ChainConnection, LeaseBook]:
    """Connect to anvil and set up a provider with two nodes and a paying user."""
    from chain.connect import connect

    conn = await connect(anvil_url)
    return conn, await LeaseBook.create(conn, manifest_dir)
