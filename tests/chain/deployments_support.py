"""Shared helpers for the deployment tests on anvil: a served runtime, provider onboarding through the API
(register -> operator approve via the outbox -> add node, all indexed), funded users, time travel.
The wallet-side helpers (``sign_and_send``, ``deliver_outbox``) come from the provider flow test."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account

from api.app import create_app
from api.auth.devissuer import DevIssuer
from api.routes import identity
from chain.contracts import CreditTokenClient, EscrowClient
from chain.devchain import Anvil, rpc
from chain.signer import LocalSigner
from engine.deployments.lifecycle import check_relay
from engine.identity.services import link_wallet
from engine.outbox.services import enqueue
from engine.runtime import Runtime, start_runtime
from engine.settings import Settings
from tests.api.conftest import serve
from tests.chain.test_marketplace_flow import deliver_outbox, sign_and_send

NOTICE = 60
COLLATERAL = 200 * 10**6
NODE_PRICES = {"per_cpu_millicore": 20_000, "per_memory_mb": 2_000, "per_disk_gb": 200, "per_gpu": 0}
NODE_RESOURCES = {"cpu_millicores": 8000, "memory_mb": 32768, "disk_gb": 500, "bandwidth_mbps": 1000}
_refs = iter(range(1, 10**6))
HEARTBEAT = {
    "resources": {"cpu_millicores_used": 0, "memory_mb_used": 0, "disk_gb_used": 0},
    "workloads": [],
    "agent": {"version": "test"},
}


@dataclass
class Market:
    runtime: Runtime
    client: Any
    dev: DevIssuer

    @property
    def token(self) -> CreditTokenClient:
        return CreditTokenClient(self.runtime.chain.w3, self.runtime.manifest.address("CreditToken"))

    @property
    def escrow(self) -> EscrowClient:
        return EscrowClient(self.runtime.chain.w3, self.runtime.manifest.address("DeploymentEscrow"))

    def headers(self, role: str, sub: str) -> dict[str, str]:
        return {"Authorization": "Bearer " + self.dev.mint([role], sub=sub)}

    async def user_id(self, headers: dict[str, str]) -> int:
        return int((await (await self.client.get("/api/auth/session", headers=headers)).json())["user_id"])

    async def mint(self, to: str, amount: int) -> None:
        ref = (0xDE9 << 200 | next(_refs)).to_bytes(32, "big")
        await self.admin_send(self.token.address, self.token.encode_mint(to, amount, ref), "test.mint")

    async def admin_send(self, to: str, data: bytes, kind: str) -> None:
        """A write by the backend signer, through the outbox like every write of that key: a direct send
        would take a nonce the outbox may already have signed a row with (the outbox then waits out its
        foreign-nonce grace before re-signing, which the tests' bounded loops do not)."""
        key = f"{kind}:{uuid.uuid4().hex}"
        async with self.runtime.sessionmaker() as s, s.begin():
            await enqueue(s, kind=kind, to=to, data=data, idempotency_key=key, args={})
        await deliver_outbox(self.runtime, key)

    async def funded_wallet(self, credit: int) -> LocalSigner:
        wallet = LocalSigner(Account.create().key.hex())
        await rpc(self.runtime.chain, "anvil_setBalance", wallet.address, hex(10**19))
        if credit:
            await self.mint(wallet.address, credit)
        return wallet

    async def call(self, method: str, path: str, headers: dict[str, str], status: int, **kw: Any) -> Any:
        resp = await self.client.request(method, path, headers=headers, **kw)
        assert resp.status == status, f"{method} {path}: {resp.status} {await resp.text()}"
        return await resp.json()

    async def sync(self, rounds: int = 1) -> None:
        """Outbox and indexer passes, then the managed payers' relay queues advanced (what the background
        tasks and the ``deployments.funding`` job do). Without the last step a relayed request queued while
        the payer's previous one was still unconfirmed waited for the next escrow event: two intermittent
        stalls of a managed close in loaded runs (SLA, autoscale) came from exactly that."""
        for _ in range(rounds):
            await self.runtime.sender.run_once()
            await self.runtime.indexer.run_once()
            await check_relay(self.runtime.context)

    async def sync_until(self, done: Callable[[], Awaitable[bool]], seconds: float = 120.0) -> bool:
        """Outbox and indexer passes until ``done()`` says so, for at most ``seconds`` of wall time (not a
        fixed number of passes: on a loaded machine a pass may find nothing mined yet). ``done()``'s last
        answer is returned for the caller to assert with its own message."""
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            await self.sync()
            if await done():
                return True
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.05)

    async def now(self) -> int:
        return int((await self.runtime.chain.w3.eth.get_block("latest"))["timestamp"])

    async def warp(self, seconds: int) -> None:
        await rpc(self.runtime.chain, "evm_increaseTime", hex(seconds))
        await rpc(self.runtime.chain, "evm_mine")

    async def onboard(
        self, sub: str, nodes: list[dict[str, Any]]
    ) -> tuple[LocalSigner, dict[str, Any], list[Any]]:
        """A provider with an approved registration and the given nodes active on chain; returns the
        wallet, its headers and the node JSON (with ``chain_node_id``)."""
        prov = self.headers("cloud-provider", sub)
        oper = self.headers("cloud-operator", "dev|deployments-operator")
        wallet = await self.funded_wallet(10**9)
        async with self.runtime.sessionmaker() as s:
            await link_wallet(s, await self.user_id(prov), wallet.address)
        body = {
            "wallet": wallet.address,
            "company": "Acme",
            "contact_name": "A",
            "contact_email": "a@acme.io",
            "collateral": COLLATERAL,
        }
        reg = await self.call("POST", "/api/cloud-provider/register", prov, 201, json=body)
        await sign_and_send(self.runtime, wallet, reg["transactions"])
        await self.runtime.indexer.run_once()
        rid = reg["request"]["id"]
        await self.call("POST", f"/api/cloud-operator/provider-requests/{rid}/approve", oper, 200)
        await deliver_outbox(self.runtime, f"provider-approve:{wallet.address.lower()}:{rid}")
        await self.runtime.indexer.run_once()
        made = []
        for extra in nodes:
            node_body = {
                "wallet": wallet.address,
                "country": "DE",
                "resources": NODE_RESOURCES,
                "prices": NODE_PRICES,
                "attributes": ["ssd"],
            } | extra
            created = await self.call("POST", "/api/cloud-provider/nodes", prov, 201, json=node_body)
            await sign_and_send(self.runtime, wallet, created["transactions"])
            made.append(created["id"])
        await self.runtime.indexer.run_once()
        listed = {
            n["id"]: n for n in (await self.call("GET", "/api/cloud-provider/nodes", prov, 200))["nodes"]
        }
        out = [listed[i] for i in made]
        assert all(n["status"] == "active" and n["chain_node_id"] for n in out), out
        for n in out:  # an agent heartbeat per node: placement only takes online nodes
            issued = await self.call("POST", f"/api/cloud-provider/nodes/{n['id']}/tokens", prov, 201)
            agent = {"Authorization": f"Bearer {issued['token']}"}
            await self.call(
                "POST", f"/api/cloud-provider/nodes/{n['id']}/heartbeat", agent, 200, json=HEARTBEAT
            )
        return wallet, prov, out


@asynccontextmanager
async def market(anvil: Anvil, tmp_path: Path, database_url: str | None = None) -> AsyncIterator[Market]:
    settings = Settings(
        data_dir=tmp_path,
        database_url=database_url or f"sqlite+aiosqlite:///{tmp_path / 'd.db'}",
        chain_url=anvil.url,
        provider_min_collateral=100 * 10**6,
        maintenance_min_notice=NOTICE,
        maintenance_max_window=7_200,
        node_offline_after=24 * 3600,  # one heartbeat at onboarding keeps the module's nodes online
    )
    runtime = await start_runtime(settings, spawn_dev_chain=False)
    options = identity.IdentityOptions(
        env="dev",
        data_dir=tmp_path,
        chain_id=runtime.chain.chain_id,
        dev_issuer=True,
        siwe_domain="d.test",
        siwe_uri="https://d.test",
    )
    try:
        async with serve(create_app(runtime, background=False, identity_options=options)) as client:
            yield Market(runtime, client, DevIssuer(tmp_path))
    finally:
        await runtime.close()


__all__ = ["Market", "deliver_outbox", "market", "sign_and_send"]


async def two_providers(
    mk: Market, tag: str
) -> tuple[list[dict[str, Any]], dict[int, dict[str, str]], dict[int, Any]]:
    """Two approved providers with two eu-west nodes each, and a node token per node: (nodes, the agent
    headers per node id, the provider wallet per node id)."""
    tokens: dict[int, dict[str, str]] = {}
    wallets: dict[int, Any] = {}
    all_nodes: list[dict[str, Any]] = []
    for p in ("a", "b"):
        wallet, prov, nodes = await mk.onboard(
            f"dev|{tag}-p{p}",
            [{"name": f"{p}1", "region": "eu-west"}, {"name": f"{p}2", "region": "eu-west"}],
        )
        for n in nodes:
            issued = await mk.call("POST", f"/api/cloud-provider/nodes/{n['id']}/tokens", prov, 201)
            tokens[n["id"]] = {"Authorization": f"Bearer {issued['token']}"}
            wallets[n["id"]] = wallet
        all_nodes += nodes
    return all_nodes, tokens, wallets
