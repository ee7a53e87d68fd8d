"""Workloads end to end: the real service and two real node agents as processes, a fresh anvil, HTTP only.

The service is ``python -m api.cli serve`` (SQLite in a temporary data dir, short heartbeat/indexer/
scheduler intervals); two providers are onboarded through the API with wallets that sign what it returns
(SIWE link -> register -> operator approve, sent by the service's outbox -> add node, indexed); each node
gets a token and its own ``python -m api.cli node run --runtime process`` agent.

1. Lifecycle: create a deployment whose command writes its pid and sleeps -> the user signs the escrow
   open -> the chosen node's agent really starts it (pid file, live process working in that agent's state
   dir, never on the other node) -> heartbeats make it ``running`` -> chain time passes -> the provider
   settles and withdraws exactly rate x elapsed minus the platform fee -> the user closes -> the agent stops
   the process -> ``closed`` with the refund on chain. A live SSE stream shows every transition, in the
   order GET reports them.
2. SSE reconnect: read the first event, disconnect, let transitions happen, reconnect with Last-Event-ID:
   the two connections together hold exactly the full list, no gap, no repeat.
3. Failover (runs last): a deployment with a backup node runs on one agent; that agent is SIGKILLed; after
   the offline threshold the engine's failover job moves the replica: the wallet-connected payer gets the
   close + open transactions with the ``failing-over`` SSE event and signs them; the other agent starts the
   workload; exactly one new lease on chain (on the spare node), the dead one closed; back to ``running``.

No process outlives the module: the service and agents are stopped by process group, workloads found by
a /proc scan, and the ``no_strays`` fixture fails a test that leaves one behind.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from web3.logs import DISCARD

from api.auth.devissuer import DevIssuer
from chain.connect import ChainConnection, connect
from chain.contracts import CreditTokenClient, EscrowClient
from chain.deploy import send_transaction
from chain.devchain import Anvil, free_port, rpc
from chain.signer import LocalSigner
from engine.settings import ANVIL_DEV_KEY
from tests.e2e.workloads_support import (
    AgentProcess,
    Http,
    ServiceProcess,
    SseEvent,
    Wallet,
    alive,
    cwd_of,
    kill_and_wait,
    kill_marked,
    marked_processes,
    read_pids,
    sse_events,
    wait_until,
)

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

OFFLINE_AFTER = 5  # seconds of silence before a node counts as offline (agents beat every second)
LIMIT = 30.0  # seconds any one awaited state may take (a loaded 2-core CI box stays far below)
DEPLOY = "/api/cloud-user/deployments"
COLLATERAL = 200 * 10**6
USER_CREDIT = 10**9
PROVIDER_CREDIT = 10**9
NODE_RESOURCES = {"cpu_millicores": 4000, "memory_mb": 8192, "disk_gb": 100, "bandwidth_mbps": 1000}
NODE_PRICES = {"per_cpu_millicore": 20_000, "per_memory_mb": 2_000, "per_disk_gb": 200, "per_gpu": 0}
SERVICE_SETTINGS = {
    "CLOUDMARKET_NODE_HEARTBEAT_INTERVAL": "1",
    "CLOUDMARKET_NODE_OFFLINE_AFTER": str(OFFLINE_AFTER),
    "CLOUDMARKET_SCHEDULER_WORKLOADS_INTERVAL": "1",
    "CLOUDMARKET_SCHEDULER_FAILOVER_INTERVAL": "1",
    "CLOUDMARKET_SCHEDULER_RETRY_INTERVAL": "1",
    "CLOUDMARKET_INDEXER_POLL_INTERVAL": "0.1",
    "CLOUDMARKET_TX_POLL_INTERVAL": "0.1",
    "CLOUDMARKET_PROVIDER_MIN_COLLATERAL": str(100 * 10**6),
    "CLOUDMARKET_LOG_LEVEL": "INFO",
}
# writes its pid (one line per start) to argv[1], then sleeps until stopped
SLEEPER = "import os, sys, time\nopen(sys.argv[1], 'a').write(f'{os.getpid()}\\n')\ntime.sleep(3600)\n"
LIFECYCLE = ["funding", "starting", "running", "closing", "closed"]
HEARTBEAT = {
    "resources": {"cpu_millicores_used": 0, "memory_mb_used": 0, "disk_gb_used": 0},
    "workloads": [],
    "agent": {"version": "e2e-test"},
}


@dataclass
class Provider:
    wallet: Wallet
    headers: dict[str, str]
    node: dict[str, Any]
    agent: AgentProcess


@dataclass
class World:
    root: Path
    http: Http
    conn: ChainConnection
    dev: DevIssuer
    token: CreditTokenClient
    escrow: EscrowClient
    escrow_abi: list[Any]
    service: ServiceProcess
    providers: list[Provider] = field(default_factory=list)
    users: list[Wallet] = field(default_factory=list)  # funded wallets, one per test, not linked yet

    def headers(self, role: str, sub: str) -> dict[str, str]:
        return {"Authorization": "Bearer " + self.dev.mint([role], sub=sub)}

    def provider_of(self, chain_node_id: int) -> Provider:
        (p,) = [p for p in self.providers if p.node["chain_node_id"] == chain_node_id]
        return p

    async def user(self, sub: str) -> tuple[Wallet, dict[str, str]]:
        wallet, headers = self.users.pop(), self.headers("cloud-user", sub)
        await wallet.link(self.http, headers)
        return wallet, headers

    async def deployment(self, headers: dict[str, str], dep_id: int) -> dict[str, Any]:
        got: dict[str, Any] = await self.http.call("GET", f"{DEPLOY}/{dep_id}", headers, 200)
        return got

    async def wait_status(self, headers: dict[str, str], dep_id: int, status: str) -> dict[str, Any]:
        return await wait_until(
            f"deployment {dep_id} {status}",
            lambda: self.deployment(headers, dep_id),
            lambda d: d["status"] == status,
            LIMIT,
            every=0.1,
        )

    async def block_ts(self, receipt: dict[str, Any]) -> int:
        return int((await self.conn.w3.eth.get_block(receipt["blockNumber"]))["timestamp"])

    def opened_lease_id(self, receipt: dict[str, Any]) -> int:
        contract = self.conn.w3.eth.contract(address=self.escrow.address, abi=self.escrow_abi)
        (ev,) = contract.events.LeaseOpened().process_receipt(receipt, errors=DISCARD)
        return int(ev["args"]["leaseId"])

    async def warp(self, seconds: int) -> None:
        await rpc(self.conn, "evm_increaseTime", hex(seconds))
        await rpc(self.conn, "evm_mine")

    async def tick(self) -> None:
        """Mine an empty block, as a live chain would have by now (on automining anvil the latest block can
        still be the lease's open block; chain.deploy.gas_limit's headroom covers that case too)."""
        await rpc(self.conn, "evm_mine")

    def logs(self) -> str:
        parts = [f"--- service log ---\n{self.service.output()}"]
        parts += [f"--- agent {p.node['id']} log ---\n{p.agent.output()}" for p in self.providers]
        return "\n".join(parts)


# ---- module setup: chain, service, two onboarded providers with running agents -------------------------
@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The module's directory; every process we start is marked by it. Whatever survives is killed."""
    path = tmp_path_factory.mktemp("workloads-e2e")
    yield path
    left = kill_marked(path)
    assert not left, f"processes left behind by the module: {left}"


@pytest.fixture
def no_strays(root: Path) -> Iterator[None]:
    """Fails the test when a process it started (a workload) is still alive afterwards; kills it."""
    before = {pid for pid, _ in marked_processes(root)}
    yield
    stray = [(pid, cmd) for pid, cmd in marked_processes(root) if pid not in before]
    kill_and_wait([pid for pid, _ in stray])
    assert not stray, f"processes outlived the test: {stray}"


async def _onboard(w: World, n: int, wallet: Wallet, region: str) -> Provider:
    """SIWE link -> register (signed) -> operator approve (outbox) -> add node (signed, indexed) -> a
    node token, one heartbeat (online before the agent's first beat) -> the agent process."""
    headers = w.headers("cloud-provider", f"dev|e2e-provider-{n}")
    operator = w.headers("cloud-operator", "dev|e2e-operator")
    await wallet.link(w.http, headers)
    body = {
        "wallet": wallet.address,
        "company": f"Provider {n}",
        "contact_name": "Ops",
        "contact_email": f"ops{n}@provider.test",
        "collateral": COLLATERAL,
    }
    reg = await w.http.call("POST", "/api/cloud-provider/register", headers, 201, json=body)
    await wallet.send_all(w.conn, reg["transactions"])
    rid = reg["request"]["id"]
    approve = f"/api/cloud-operator/provider-requests/{rid}/approve"
    # 409 not_registered_on_chain until the service's indexer has seen the register tx
    await wait_until(
        "approve accepted",
        lambda: w.http.status_and_json("POST", approve, operator),
        lambda r: r[0] == 200,
        LIMIT,
        every=0.1,
    )

    async def approved() -> list[Any]:
        got = await w.http.call("GET", "/api/cloud-operator/provider-requests?status=approved", operator, 200)
        return [q for q in got["requests"] if q["id"] == rid and q["chain_status"] == "Approved"]

    await wait_until("approval sent by the outbox and indexed", approved, bool, LIMIT, every=0.1)
    node_body = {
        "wallet": wallet.address,
        "name": f"node-{n}",
        "region": region,
        "country": "DE",
        "resources": NODE_RESOURCES,
        "prices": NODE_PRICES,
        "attributes": ["ssd"],
    }
    created = await w.http.call("POST", "/api/cloud-provider/nodes", headers, 201, json=node_body)
    await wallet.send_all(w.conn, created["transactions"])

    async def node() -> dict[str, Any]:
        listed = await w.http.call("GET", "/api/cloud-provider/nodes", headers, 200)
        (mine,) = [x for x in listed["nodes"] if x["id"] == created["id"]]
        return dict(mine)

    got = await wait_until(
        "node active on chain", node, lambda x: x["status"] == "active" and x["chain_node_id"], LIMIT, 0.1
    )
    issued = await w.http.call("POST", f"/api/cloud-provider/nodes/{got['id']}/tokens", headers, 201)
    beat = f"/api/cloud-provider/nodes/{got['id']}/heartbeat"
    await w.http.call("POST", beat, {"Authorization": f"Bearer {issued['token']}"}, 200, json=HEARTBEAT)
    agent = AgentProcess(w.http.base, got["id"], issued["token"], w.root / f"agent-{n}" / "state")
    return Provider(wallet, headers, got, agent)


async def _fund_and_onboard(w: World) -> None:
    """Gas for every wallet and credit minted by the deployer key (it holds MINTER_ROLE) before the
    service's outbox sends anything with that key (no nonce race); then both providers onboarded."""
    provider_wallets = [Wallet(), Wallet()]
    w.users = [Wallet() for _ in range(3)]
    deployer = LocalSigner(ANVIL_DEV_KEY)
    credits = [PROVIDER_CREDIT] * len(provider_wallets) + [USER_CREDIT] * len(w.users)
    for i, (wallet, credit) in enumerate(zip(provider_wallets + w.users, credits, strict=True)):
        await rpc(w.conn, "anvil_setBalance", wallet.address, hex(10**19))
        ref = (0xE2E << 200 | i).to_bytes(32, "big")
        data = w.token.encode_mint(wallet.address, credit, ref)
        await send_transaction(w.conn, deployer, to=w.token.address, data=data)
    for n, (wallet, region) in enumerate(zip(provider_wallets, ["eu-west", "us-east"], strict=True)):
        w.providers.append(await _onboard(w, n, wallet, region))


@pytest.fixture(scope="module")
async def world(root: Path) -> AsyncIterator[World]:
    service: ServiceProcess | None = None
    w: World | None = None
    with Anvil() as anvil:
        try:
            service = ServiceProcess(
                root / "service", free_port(), {"CLOUDMARKET_CHAIN_URL": anvil.url, **SERVICE_SETTINGS}
            )
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=90)) as session:
                await service.wait_ready(session, limit=60)
                conn = await connect(anvil.url)
                try:
                    http = Http(session, service.base)
                    info = await http.call("GET", "/api/chain", None, 200)
                    escrow_info = info["contracts"]["DeploymentEscrow"]
                    w = World(
                        root=root,
                        http=http,
                        conn=conn,
                        dev=DevIssuer(service.data_dir),
                        token=CreditTokenClient(conn.w3, info["contracts"]["CreditToken"]["address"]),
                        escrow=EscrowClient(conn.w3, escrow_info["address"]),
                        escrow_abi=escrow_info["abi"],
                        service=service,
                    )
                    await _fund_and_onboard(w)
                    yield w
                finally:
                    await conn.close()
        finally:
            for p in w.providers if w is not None else []:
                p.agent.stop()
            if service is not None:
                service.stop()


def _spec(pid_file: Path) -> dict[str, Any]:
    return {
        "command": [sys.executable, "-c", SLEEPER, str(pid_file)],
        "resources": {"cpu_millicores": 500, "memory_mb": 256, "disk_gb": 1},
    }


def _tos(transitions: list[dict[str, Any]]) -> list[str]:
    return [t["to"] for t in transitions]


def _is_subsequence(wanted: list[str], seen: list[str]) -> bool:
    it = iter(seen)
    return all(x in it for x in wanted)


# ---- tests ---------------------------------------------------------------------------------------------
async def test_deploy_run_earn_withdraw_close_stop(world: World, root: Path, no_strays: None) -> None:
    w = world
    wallet, user = await w.user("dev|e2e-user-lifecycle")
    pid_file = root / "lifecycle.pids"
    created = await w.http.call(
        "POST", DEPLOY, user, 201, json={"spec": _spec(pid_file), "duration_seconds": 3_600}
    )
    dep, quote = created["deployment"], created["quote"]
    assert dep["status"] == "funding" and dep["funding"] == "wallet" and dep["payer"] == wallet.address
    chosen = w.provider_of(dep["leases"][0]["chain_node_id"])
    (other,) = [p for p in w.providers if p is not chosen]
    events: list[SseEvent] = []

    async def follow() -> None:  # the live stream ends by itself once the deployment is closed
        async for ev in sse_events(w.http, f"{DEPLOY}/{dep['id']}/events?max_seconds=120", user):
            events.append(ev)

    follower = asyncio.create_task(follow())
    try:
        rate = int(dep["rate_per_second"])
        deposit = int(quote["total_deposit"])
        assert quote["rate_per_replica"] == [rate] and deposit == rate * 3_600
        balance0 = await w.token.balance_of(wallet.address)
        receipts = await wallet.send_all(w.conn, created["transactions"])
        open_receipt = receipts[-1]
        lease_id = w.opened_lease_id(open_receipt)
        assert await w.token.balance_of(wallet.address) == balance0 - deposit

        # the chosen node's agent verifies the lease and starts the command as a real process
        pids = await wait_until("the workload's pid file", lambda: read_pids(pid_file), bool, LIMIT)
        (pid,) = pids
        assert alive(pid), w.logs()
        workdir = cwd_of(pid)
        assert workdir is not None and workdir.is_relative_to(chosen.agent.state_dir), workdir
        assert workdir.name == f"d{dep['id']}-r0"

        running = await w.wait_status(user, dep["id"], "running")
        (lease,) = running["leases"]
        assert lease["lease_id"] == str(lease_id) and lease["status"] == "open"
        assert _is_subsequence(["funding", "starting", "running"], _tos(running["transitions"]))

        # chain time passes; the provider settles the lease and withdraws what the node earned
        await w.warp(1_000)
        fee_bps, _, _ = await w.escrow.fee_params()
        settle = await send_transaction(
            w.conn, chosen.wallet.signer, to=w.escrow.address, data=w.escrow.encode_settle(lease_id)
        )
        elapsed = await w.block_ts(settle) - await w.block_ts(open_receipt)
        assert elapsed >= 1_000
        due = rate * elapsed
        fee = due * fee_bps // 10_000  # the platform fee rounds down (issue 10)
        node_path = f"/api/cloud-provider/nodes/{chosen.node['id']}/withdraw"
        withdraw = await w.http.call("POST", node_path, chosen.headers, 200)
        assert withdraw["owed"] == due - fee > 0
        before = await w.token.balance_of(chosen.wallet.address)
        await chosen.wallet.send_all(w.conn, withdraw["transactions"])
        assert await w.token.balance_of(chosen.wallet.address) == before + due - fee
        assert await w.escrow.node_owed(chosen.node["chain_node_id"]) == 0
        assert alive(pid)  # still running through all of it

        # the user closes: the agent stops the process; the rest of the deposit comes back
        closing = await w.http.call("POST", f"{DEPLOY}/{dep['id']}/close", user, 200)
        assert closing["deployment"]["status"] == "closing"
        before = await w.token.balance_of(wallet.address)
        (close_receipt,) = await wallet.send_all(w.conn, closing["transactions"])
        refund = deposit - rate * (await w.block_ts(close_receipt) - await w.block_ts(open_receipt))
        assert refund > 0 and await w.token.balance_of(wallet.address) == before + refund
        assert not (await w.escrow.lease(lease_id)).open
        await wait_until("the workload stopped", lambda: alive(pid), lambda a: not a, LIMIT)
        closed = await w.wait_status(user, dep["id"], "closed")
        assert closed["leases"][0]["refund"] == refund and closed["leases"][0]["status"] == "closed"
        assert read_pids(pid_file) == [pid]  # started exactly once
        assert not (other.agent.state_dir / "work" / workdir.name).exists()  # never on the other node

        # the live SSE stream saw every transition, in order, and ended after "closed"
        await asyncio.wait_for(follower, LIMIT)
        assert [(e.data["from"], e.data["to"]) for e in events] == [
            (t["from"], t["to"]) for t in closed["transitions"]
        ]
        assert _is_subsequence(LIFECYCLE, _tos(closed["transitions"]))
        assert [e.id for e in events] == sorted({e.id for e in events})
    except BaseException:
        print(w.logs())
        raise
    finally:
        follower.cancel()
        kill_and_wait(read_pids(pid_file))


async def test_sse_reconnect_with_last_event_id_misses_nothing(
    world: World, root: Path, no_strays: None
) -> None:
    w = world
    wallet, user = await w.user("dev|e2e-user-sse")
    pid_file = root / "sse.pids"
    created = await w.http.call(
        "POST", DEPLOY, user, 201, json={"spec": _spec(pid_file), "duration_seconds": 600}
    )
    dep_id = created["deployment"]["id"]
    path = f"{DEPLOY}/{dep_id}/events?max_seconds=120"
    try:
        # first connection: read the first event, then hang up
        first: list[SseEvent] = []
        async with aclosing(sse_events(w.http, path, user)) as stream:
            async for ev in stream:
                first.append(ev)
                break
        assert [e.data["to"] for e in first] == ["funding"]

        # transitions while nobody listens: funded -> starting -> running -> closing
        await wallet.send_all(w.conn, created["transactions"])
        await w.wait_status(user, dep_id, "running")
        await wait_until("the workload's pid file", lambda: read_pids(pid_file), bool, LIMIT)
        closing = await w.http.call("POST", f"{DEPLOY}/{dep_id}/close", user, 200)
        await w.tick()
        await wallet.send_all(w.conn, closing["transactions"])

        # reconnect with the last id seen: replay of what was missed, then live until closed
        second = [ev async for ev in sse_events(w.http, path, user, last_event_id=first[-1].id)]
        full = (await w.wait_status(user, dep_id, "closed"))["transitions"]
        got = first + second
        assert [(e.data["from"], e.data["to"], e.data["reason"]) for e in got] == [
            (t["from"], t["to"], t["reason"]) for t in full
        ]
        ids = [e.id for e in got]
        assert ids == sorted(set(ids)) and second and second[0].id > first[-1].id
        assert _is_subsequence(LIFECYCLE, _tos(full))
        (pid,) = read_pids(pid_file)  # it ran, once; the close stopped it
        await wait_until("the workload stopped", lambda: alive(pid), lambda a: not a, LIMIT)
    except BaseException:
        print(w.logs())
        raise
    finally:
        kill_and_wait(read_pids(pid_file))


async def test_killed_agent_fails_over_to_the_backup_node(world: World, root: Path, no_strays: None) -> None:
    """Runs last: it leaves the primary's agent dead."""
    w = world
    wallet, user = await w.user("dev|e2e-user-failover")
    pid_file = root / "failover.pids"
    spec = _spec(pid_file) | {"backup": {"enabled": True, "different_region": False}}
    created = await w.http.call("POST", DEPLOY, user, 201, json={"spec": spec, "duration_seconds": 3_600})
    dep_id = created["deployment"]["id"]
    events: list[SseEvent] = []

    async def follow() -> None:
        async for ev in sse_events(w.http, f"{DEPLOY}/{dep_id}/events?max_seconds=120", user):
            events.append(ev)

    follower = asyncio.create_task(follow())
    try:
        await wallet.send_all(w.conn, created["transactions"])
        got = await w.wait_status(user, dep_id, "running")
        (primary,) = [x for x in got["leases"] if x["role"] == "primary"]
        (backup,) = [x for x in got["leases"] if x["role"] == "backup"]
        assert backup["status"] == "reserved" and backup["lease_id"] is None  # no lease until needed
        dying, spare = w.provider_of(primary["chain_node_id"]), w.provider_of(backup["chain_node_id"])
        assert dying is not spare  # the standby sits at another provider
        (first_pid,) = await wait_until("the workload's pid file", lambda: read_pids(pid_file), bool, LIMIT)
        assert cwd_of(first_pid) == dying.agent.state_dir / "work" / f"d{dep_id}-r0"
        count0 = await w.escrow.lease_count()

        # the primary's machine goes dark: its agent dies without a word (its workload is now unmanaged)
        assert dying.agent.kill() == -signal.SIGKILL

        # after the offline threshold the engine fails over; a wallet-connected payer is handed the txs
        # (close the dead lease, open the backup's) with the "failing-over" event
        def handed(evs: list[SseEvent]) -> list[SseEvent]:
            return [e for e in evs if e.data["to"] == "failing-over" and e.data.get("transactions")]

        (event,) = await wait_until("failing-over with txs", lambda: handed(events), bool, LIMIT, 0.1)
        await w.tick()
        await wallet.send_all(w.conn, event.data["transactions"])

        # the spare node's agent starts the workload, heartbeats bring the deployment back to running
        pids = await wait_until("a second start", lambda: read_pids(pid_file), lambda p: len(p) == 2, LIMIT)
        moved_pid = pids[1]
        assert alive(moved_pid)
        assert cwd_of(moved_pid) == spare.agent.state_dir / "work" / f"d{dep_id}-r0"
        done = await w.wait_status(user, dep_id, "running")
        tos = _tos(done["transitions"])
        assert _is_subsequence(["running", "failing-over", "running"], tos) and tos.count("failing-over") == 1

        # on chain: exactly one new lease, on the spare node; the dead one closed
        assert await w.escrow.lease_count() == count0 + 1
        assert not (await w.escrow.lease(int(primary["lease_id"]))).open
        (now_primary,) = [x for x in done["leases"] if x["role"] == "primary" and x["status"] == "open"]
        assert now_primary["lease_id"] not in (None, primary["lease_id"])
        info = await w.escrow.lease(int(now_primary["lease_id"]))
        assert info.open and info.node_id == spare.node["chain_node_id"] and info.payer == wallet.address
        assert len(handed(events)) == 1 and read_pids(pid_file) == [first_pid, moved_pid]

        # closing stops the moved workload on the spare node
        closing = await w.http.call("POST", f"{DEPLOY}/{dep_id}/close", user, 200)
        await w.tick()
        await wallet.send_all(w.conn, closing["transactions"])
        await wait_until("the moved workload stopped", lambda: alive(moved_pid), lambda a: not a, LIMIT)
        await w.wait_status(user, dep_id, "closed")
    except BaseException:
        print(w.logs())
        raise
    finally:
        follower.cancel()
        kill_and_wait(read_pids(pid_file))  # the dead machine's workload is ours to clean up
