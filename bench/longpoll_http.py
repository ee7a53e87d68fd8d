"""HTTP part of ``bench/longpoll.py`` (see its docstring): the service subprocess and the client.

:func:`http_run` starts a FRESH service process (its own SQLite file, its own nodes) for one measurement
and stops it after; ``freeze=True`` installs :func:`api.app.freeze_startup_heap` exactly as the service's
app factory does (``gc.collect()`` + ``gc.freeze()`` once, at start-up), ``freeze=False`` leaves it out.
Nothing is frozen mid-run (an earlier version froze the 10,000 held requests between two measurements,
which the service never does)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import aiohttp
from aiohttp import web
from sqlalchemy import insert, select

from api.app import freeze_startup_heap
from api.auth.middleware import AUTHENTICATOR, Authenticator
from api.auth.session import SessionTokens
from api.keys import METRICS, ROUTE_SPECS, RUNTIME, SESSIONMAKER
from api.metrics import Metrics
from api.middlewares import MIDDLEWARES
from api.routes import workloads
from engine import db
from engine.deployments import models as m
from engine.identity.models import NodeToken, User
from engine.identity.node_tokens import TOKEN_PREFIX, hash_token
from engine.nodes.models import NODE_ACTIVE, Node
from engine.notify import LocalHub
from engine.settings import Settings
from engine.workloads.wakeups import note_node, publish_noted

HOLD = 60
ARM_STEP = 500  # polls started together while arming


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


async def populate(url: str, count: int) -> list[tuple[int, str]]:
    """A provider, ``count`` active nodes with one token each and one deployment (lease awaiting funds)
    per node; returns ``(node_id, token)``."""
    await db.upgrade(url)
    eng = db.make_engine(url)
    sm = db.make_sessionmaker(eng)
    tokens = [TOKEN_PREFIX + secrets.token_urlsafe(32) for _ in range(count)]
    async with sm() as s, s.begin():
        user = User(sub="dev|bench-provider")
        s.add(user)
        await s.flush()
        await s.execute(
            insert(Node),
            [
                dict(
                    provider_user_id=user.id,
                    name=f"n{i}",
                    chain_node_id=i + 1,
                    status=NODE_ACTIVE,
                    region="eu-west",
                )
                for i in range(count)
            ],
        )
        ids = list((await s.scalars(select(Node.id).order_by(Node.id))).all())
        await s.execute(
            insert(NodeToken),
            [
                dict(node_id=n, token_hash=hash_token(t), hint=t[:12])
                for n, t in zip(ids, tokens, strict=True)
            ],
        )
        spec = {
            "command": ["sleep", "1"],
            "resources": {"cpu_millicores": 100, "memory_mb": 64, "disk_gb": 1},
        }
        await s.execute(
            insert(m.Deployment),
            [
                dict(
                    user_id=user.id,
                    spec=spec,
                    spec_hash="0x" + "11" * 32,
                    status=m.STARTING,
                    replicas=1,
                    rate_per_second=1,
                    payer="0x" + "22" * 20,
                    funding=m.FUNDING_WALLET,
                )
                for _ in ids
            ],
        )
        dep_ids = list((await s.scalars(select(m.Deployment.id).order_by(m.Deployment.id))).all())
        await s.execute(
            insert(m.Lease),
            [
                dict(
                    deployment_id=d,
                    replica_index=0,
                    role=m.PRIMARY,
                    node_id=n,
                    chain_node_id=i + 1,
                    rate_per_second=1,
                    deposit=1,
                    status=m.AWAITING_FUNDS,
                )
                for i, (d, n) in enumerate(zip(dep_ids, ids, strict=True))
            ],
        )
    await eng.dispose()
    return list(zip(ids, tokens, strict=True))


def usable_count(count: int) -> int:
    """``count`` held polls, or fewer when the open-files limit cannot hold them (one socket each)."""
    hard = raise_nofile()
    if hard < count + 200:
        print(f"HTTP part: RLIMIT_NOFILE hard limit {hard} < {count} connections; lowering the count")
        return max(100, hard - 500)
    return count


async def populate_template(path: Path, count: int) -> None:
    """The pristine database every run copies (``path``) and its nodes' tokens (``path`` + ``.json``)."""
    pairs = await populate(f"sqlite+aiosqlite:///{path}", count)
    path.with_suffix(".json").write_text(json.dumps(pairs))


async def serve_main(db_path: Path, count: int, ready_file: Path, freeze: bool) -> None:
    """The service process: real agent routes + node-token auth + middlewares, SQLite, LocalHub, on
    ``db_path`` (a fresh copy of the template)."""
    raise_nofile()
    url = f"sqlite+aiosqlite:///{db_path}"
    pairs = json.loads(db_path.with_suffix(".json").read_text())
    eng = db.make_engine(url)
    sm = db.make_sessionmaker(eng)
    hub = LocalHub()
    settings = Settings()
    context = SimpleNamespace(sessionmaker=sm, hub=hub, settings=settings)  # what the agent routes read
    runtime = SimpleNamespace(sessionmaker=sm, hub=hub, settings=settings, context=context)
    app = web.Application(middlewares=MIDDLEWARES)
    app[RUNTIME] = cast(Any, runtime)
    app[SESSIONMAKER] = sm
    app[METRICS] = Metrics()
    app[ROUTE_SPECS] = []
    app[AUTHENTICATOR] = Authenticator(sm, SessionTokens(secrets.token_bytes(32)))
    workloads.routes.install(app, app[ROUTE_SPECS])
    workloads.setup(app)

    async def open_lease(request: web.Request) -> web.Response:
        node_id = int(request.match_info["node_id"])
        async with sm() as s:
            async with s.begin():
                lease = (await s.scalars(select(m.Lease).where(m.Lease.node_id == node_id))).one()
                lease.status, lease.chain_lease_id = m.LEASE_OPEN, str(10**12 + node_id)
                note_node(s, node_id)
            committed = time.monotonic()
            await publish_noted(hub, s)
        return web.json_response({"committed": committed})

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"rss_kib": rss_kib(), "held": app[workloads.POLLS].held_count})

    app.router.add_post("/bench/open/{node_id}", open_lease)
    app.router.add_get("/bench/stats", stats)
    if freeze:
        app.on_startup.append(freeze_startup_heap)  # as api.app.create_app does
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
    await site.start()
    port = runner.addresses[0][1]
    tmp = ready_file.with_suffix(".tmp")
    tmp.write_text(json.dumps({"port": port, "nodes": pairs}))
    tmp.rename(ready_file)
    await asyncio.Event().wait()


@dataclasses.dataclass
class HttpRun:
    polls: int
    latencies_ms: list[float]
    rss_before_kib: int
    rss_held_kib: int
    armed_seconds: float

    def quantile(self, q: int) -> float:
        return statistics.quantiles(self.latencies_ms, n=100)[q - 1]


async def http_run(template: Path, count: int, samples: int, *, freeze: bool) -> HttpRun:
    """One fresh service process on a fresh copy of ``template`` (see :func:`populate_template`) holding
    ``count`` polls; ``samples`` wake-ups measured."""
    raise_nofile()
    with tempfile.TemporaryDirectory(prefix="bench-longpoll-") as tmp_dir:
        tmp = Path(tmp_dir)
        ready = tmp / "ready.json"
        shutil.copyfile(template, tmp / "b.db")
        shutil.copyfile(template.with_suffix(".json"), tmp / "b.json")
        proc = subprocess.Popen(  # noqa: ASYNC220 - a child process that lives for one measurement
            [
                sys.executable,
                str(Path(__file__).with_name("longpoll.py")),
                "--serve",
                str(tmp / "b.db"),
                str(count),
                str(ready),
                "freeze" if freeze else "no-freeze",
            ],
        )
        try:
            while not ready.exists():
                if proc.poll() is not None:
                    raise RuntimeError("service process died")
                await asyncio.sleep(0.2)
            info = json.loads(ready.read_text())
            return await _drive(
                f"http://127.0.0.1:{info['port']}", [tuple(p) for p in info["nodes"]], samples
            )
        finally:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)


async def _drive(base: str, nodes: list[tuple[int, str]], samples: int) -> HttpRun:
    conn = aiohttp.TCPConnector(limit=0, limit_per_host=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=HOLD + 30)
    answered: dict[int, asyncio.Future[float]] = {}
    stop = asyncio.Event()
    async with aiohttp.ClientSession(base, connector=conn, timeout=timeout) as http:

        async def get(node_id: int, token: str, params: dict[str, str]) -> dict[str, Any]:
            url = f"/api/cloud-provider/nodes/{node_id}/workloads"
            async with http.get(url, params=params, headers={"Authorization": f"Bearer {token}"}) as r:
                r.raise_for_status()
                return await r.json()  # type: ignore[no-any-return]

        sem = asyncio.Semaphore(64)

        async def first(node_id: int, token: str) -> str:
            async with sem:
                return str((await get(node_id, token, {}))["cursor"])

        cursors = await asyncio.gather(*(first(n, t) for n, t in nodes))

        async def agent_loop(node_id: int, token: str, cursor: str) -> None:
            while not stop.is_set():
                out = await get(node_id, token, {"wait": str(HOLD), "cursor": cursor})
                if out["changed"]:
                    fut = answered.get(node_id)
                    if fut is not None and not fut.done():
                        fut.set_result(time.monotonic())
                    cursor = out["cursor"]

        async with http.get("/bench/stats") as r:
            before = (await r.json())["rss_kib"]
        t0 = time.monotonic()
        tasks: list[asyncio.Task[None]] = []
        pairs = list(zip(nodes, cursors, strict=True))
        for start in range(0, len(pairs), ARM_STEP):
            # armed in steps, each held before the next starts: 10,000 polls arriving at once would queue
            # on the database pool (two checkouts each) beyond its timeout on a loaded machine
            tasks += [
                asyncio.create_task(agent_loop(n, t, c)) for (n, t), c in pairs[start : start + ARM_STEP]
            ]
            while True:
                async with http.get("/bench/stats") as r:
                    st = await r.json()
                if st["held"] >= len(tasks):
                    break
                await asyncio.sleep(0.05)
        armed = time.monotonic() - t0

        latencies: list[float] = []
        step = max(1, len(nodes) // samples)
        for node_id, _ in nodes[::step][:samples]:
            answered[node_id] = asyncio.get_running_loop().create_future()
            async with http.post(f"/bench/open/{node_id}") as r:
                committed = (await r.json())["committed"]
            got = await asyncio.wait_for(answered[node_id], 30)
            latencies.append((got - committed) * 1000)
        async with http.get("/bench/stats") as r:
            st = await r.json()
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return HttpRun(len(nodes), latencies, before, st["rss_kib"], armed)
