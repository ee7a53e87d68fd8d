"""Many service processes on one PostgreSQL (issue 15 §2): real ``cloudmarket serve`` processes.

A (``serve``, one process) and B (``serve --workers 2``: a gunicorn master and two aiohttp workers) on
different ports share one PostgreSQL database, the session anvil, the data dir (manifest, dev issuer
key) and the master key; the suite is deployed first by an in-process runtime (``serve`` never deploys),
which also seeds nodes, deployments and leases straight into the database. Then:

* one scheduler leader among the three processes, and every process names the same one;
* a long-poll and an SSE stream held by B answer a change committed through A (only PostgreSQL
  ``LISTEN/NOTIFY`` can carry that wake-up: the hold is 60 s, the answer must come long before);
* a Stripe webhook accepted by A, which is then SIGKILLed, still mints exactly once (B's sender sends
  the outbox row A committed), and Stripe's retry of the event to B is a duplicate;
* ``serve`` on a data dir without the chain's manifest exits with status 2 and deploys nothing;
* B's master stops its workers and exits 0 on SIGTERM.

And the refusals that need no process: SQLite with ``--workers 2``, the dev issuer in production,
payments without a webhook secret.

No scheduled job may touch the seeded rows: every job interval is a day (the scheduler still campaigns).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from api.auth.devissuer import DevIssuer
from api.cli import main, preflight
from chain.contracts import CreditTokenClient
from chain.devchain import Anvil, free_port
from engine.outbox.models import OutboxStatus, OutboxTx
from engine.payments.services import get_entry, mint_ref
from engine.runtime import Runtime, start_runtime
from engine.scheduler.runs import jobs_view
from engine.settings import Settings, SettingsError
from tests.api.workloads.support import make_deployment, make_node, open_lease
from tests.api.workloads.test_events import next_event
from tests.api.workloads.test_heartbeat import beat, report, send, user_headers
from tests.support.postgres import PgCluster
from tests.support.stripe_server import StripeTestServer

pytestmark = [pytest.mark.anvil, pytest.mark.postgres, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 90.0  # a loaded machine: imports, chain, migrations
WAIT = 60  # a held poll or stream's own timeout
ANSWER = 30.0  # the answer must come well before WAIT: a wake-up, not the timeout
MASTER_KEY = "42" * 32
DAY = "86400"
# every job once a day (at midnight UTC): the scheduler campaigns, no job touches the seeded rows
QUIET_JOBS = {
    "CLOUDMARKET_" + f.name.upper(): DAY
    for f in fields(Settings)
    if (
        f.name.startswith("scheduler_")
        and f.name.endswith("_interval")
        and f.name != "scheduler_retry_interval"
    )
    or f.name == "sla_probe_interval"
}


@dataclass
class Served:
    """A ``cloudmarket serve`` process (or a gunicorn master)."""

    proc: asyncio.subprocess.Process
    base: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        return await asyncio.wait_for(self.proc.wait(), 60)


@dataclass
class Cluster:
    runtime: Runtime  # in-process, not serving: deploys the suite, seeds and reads the database
    env: dict[str, str]
    dev: DevIssuer
    stripe: StripeTestServer
    a: Served
    b: Served
    tmp: Path


def _env(cluster_url: str, chain_url: str, data_dir: Path, stripe: StripeTestServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDMARKET_", "PROMETHEUS_"))}
    env.update(QUIET_JOBS)
    env.update(
        CLOUDMARKET_DATABASE_URL=cluster_url,
        CLOUDMARKET_CHAIN_URL=chain_url,
        CLOUDMARKET_DATA_DIR=str(data_dir),
        CLOUDMARKET_MASTER_KEY=MASTER_KEY,
        CLOUDMARKET_STRIPE_SECRET_KEY=stripe.secret_key,
        CLOUDMARKET_STRIPE_WEBHOOK_SECRET=stripe.webhook_secret,
        CLOUDMARKET_STRIPE_API_BASE=stripe.api_base,
        CLOUDMARKET_NODE_OFFLINE_AFTER=DAY,
        CLOUDMARKET_SCHEDULER_RETRY_INTERVAL="0.5",
        CLOUDMARKET_TX_POLL_INTERVAL="0.2",
        CLOUDMARKET_INDEXER_POLL_INTERVAL="0.5",
        CLOUDMARKET_LOG_LEVEL="WARNING",
    )
    return env


async def _start(env: dict[str, str], tmp: Path, *args: str) -> Served:
    port = free_port()
    log = tmp / f"serve-{port}.log"
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "api.cli",
            "serve",
            *args,
            cwd=REPO,
            env={**env, "CLOUDMARKET_HTTP_PORT": str(port)},
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
    finally:
        os.close(out)
    return Served(proc, f"http://127.0.0.1:{port}", log)


async def _ready(served: Served) -> None:
    async with aiohttp.ClientSession() as http:
        try:
            async with asyncio.timeout(START_TIMEOUT):
                while True:
                    if served.proc.returncode is not None:
                        pytest.fail(f"serve exited with {served.proc.returncode}:\n{served.output()}")
                    with contextlib.suppress(aiohttp.ClientError):
                        async with http.get(served.base + "/readyz") as resp:
                            if resp.status == 200:
                                return
                    await asyncio.sleep(0.2)
        except TimeoutError:
            pytest.fail(f"serve did not become ready:\n{served.output()}")


async def _eventually(check: Callable[[], Any], what: str, within: float = ANSWER) -> Any:
    try:
        async with asyncio.timeout(within):
            while True:
                result = await check()
                if result:
                    return result
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(what) from None


@pytest.fixture(scope="module")
async def cluster(
    pg_cluster: PgCluster, anvil: Anvil, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Cluster]:
    tmp = tmp_path_factory.mktemp("multiproc")
    data_dir = tmp / "data"
    url = pg_cluster.createdb(f"mp_{uuid.uuid4().hex[:8]}")
    settings = Settings(data_dir=data_dir, database_url=url, chain_url=anvil.url, master_key=MASTER_KEY)
    runtime = await start_runtime(settings, spawn_dev_chain=False)  # migrates, deploys, writes the manifest
    dev = DevIssuer(data_dir)  # the key every process of this data dir trusts
    try:
        async with StripeTestServer() as stripe:
            env = _env(url, anvil.url, data_dir, stripe)
            a, b = await _start(env, tmp), await _start(env, tmp, "--workers", "2")
            try:
                await asyncio.gather(_ready(a), _ready(b))
                yield Cluster(runtime, env, dev, stripe, a, b, tmp)
            finally:
                for served in (a, b):
                    with contextlib.suppress(ProcessLookupError):
                        await served.stop(signal.SIGKILL)
    finally:
        await runtime.close()


def _session(served: Served) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(base_url=served.base)


async def _jobs(http: aiohttp.ClientSession, headers: dict[str, str]) -> dict[str, Any]:
    async with http.get("/api/cloud-operator/jobs", headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()  # type: ignore[no-any-return]


async def _gauge(http: aiohttp.ClientSession, name: str) -> float | None:
    """A gauge's value from ``/metrics`` (``None`` when the service does not export it)."""
    async with http.get("/metrics") as resp:
        text = await resp.text()
    match = re.search(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE)
    return None if match is None else float(match.group(1))


async def _leader_series(http: aiohttp.ClientSession) -> int:
    """The sum of ``cloudmarket_scheduler_leader`` over the series one scrape shows."""
    async with http.get("/metrics") as resp:
        text = await resp.text()
    values = re.findall(r"^cloudmarket_scheduler_leader(?:{[^}]*})? (\S+)$", text, re.MULTILINE)
    return round(sum(float(v) for v in values))


async def _held(http: aiohttp.ClientSession, gauge: str) -> None:
    """Return once the process holds a long-poll/stream (its gauge); without the gauge, a short pause."""
    if await _gauge(http, gauge) is None:
        await asyncio.sleep(1.0)
        return

    async def held() -> bool:
        return (await _gauge(http, gauge) or 0) >= 1

    await _eventually(held, f"{gauge} >= 1")


async def test_one_leader_and_every_process_names_it(cluster: Cluster) -> None:
    workers = _children(cluster.b.proc.pid)
    assert len(workers) == 2, workers
    processes = {_name(cluster.a.proc.pid), *(_name(pid) for pid in workers)}
    oper = {"Authorization": "Bearer " + cluster.dev.mint(["cloud-operator"], sub="dev|mp-operator")}
    async with _session(cluster.a) as a, _session(cluster.b) as b:

        async def views() -> list[dict[str, Any]] | None:
            seen = [await _jobs(a, oper)] + [await _jobs(b, oper) for _ in range(4)]  # either worker
            return seen if all(v["leader"] in processes for v in seen) else None

        seen = await _eventually(views, "a leader among the processes")
        assert len({v["leader"] for v in seen}) == 1  # every process names the same one
        # so does a process without a scheduler of its own (this one), from the lock
        here = await jobs_view(cluster.runtime.context, None)
        assert here.leader == seen[0]["leader"] and not here.this_process_leads
        for v in seen:
            assert v["this_process"] in processes
            assert v["this_process_leads"] == (v["this_process"] == v["leader"])
        # the metric agrees: A exports its own gauge, B's scrape sums its workers' (one series per pid)
        a_leads = seen[0]["leader"] == _name(cluster.a.proc.pid)

        async def metrics_agree() -> bool:
            return (await _leader_series(a), await _leader_series(b)) == (int(a_leads), int(not a_leads))

        await _eventually(metrics_agree, "cloudmarket_scheduler_leader names the same process")


async def test_a_change_through_a_wakes_a_long_poll_and_a_stream_held_by_b(cluster: Cluster) -> None:
    rt = cluster.runtime
    async with _session(cluster.a) as a, _session(cluster.b) as b:
        headers, user = await user_headers(a, cluster.dev, f"dev|mp-{uuid.uuid4().hex[:8]}")
        node = await make_node(rt)
        dep_id, _ = await make_deployment(rt, user, [node])
        lease = await open_lease(rt, dep_id, node)  # funding -> starting, the lease is in the desired set

        poll_url = f"/api/cloud-provider/nodes/{node.id}/workloads"
        async with b.get(poll_url, headers=node.headers) as resp:
            first = await resp.json()
        assert [w["lease_id"] for w in first["workloads"]] == [lease]

        async def held_poll() -> dict[str, Any]:
            params = {"wait": WAIT, "cursor": first["cursor"]}
            async with b.get(poll_url, headers=node.headers, params=params) as resp:
                assert resp.status == 200, await resp.text()
                return await resp.json()  # type: ignore[no-any-return]

        events = f"/api/cloud-user/deployments/{dep_id}/events"
        async with b.get(events, headers=headers, params={"max_seconds": 0}) as replay:
            seen = [await next_event(replay), await next_event(replay)]
        assert [e["data"]["to"] for e in seen] == ["funding", "starting"]

        stream = await b.get(events, headers=headers, params={"after": seen[-1]["id"], "max_seconds": WAIT})
        try:
            assert stream.status == 200
            await _held(b, "cloudmarket_sse_streams_open")
            # A: the node agent reports the workload running -> starting -> running, published by A
            await send(a, node, beat([report(dep_id, lease, "running")]))
            running = await asyncio.wait_for(next_event(stream), ANSWER)
            assert (running["data"]["from"], running["data"]["to"]) == ("starting", "running")

            poll = asyncio.create_task(held_poll())
            await _held(b, "cloudmarket_longpolls_held")
            assert not poll.done()
            # A: the user closes the deployment -> the node must stop the workload (desired set empty)
            async with a.post(f"/api/cloud-user/deployments/{dep_id}/close", headers=headers) as resp:
                assert resp.status == 200, await resp.text()
            woke = await asyncio.wait_for(poll, ANSWER)
            assert woke["changed"] is True and woke["workloads"] == []
            closing = await asyncio.wait_for(next_event(stream), ANSWER)
            assert closing["data"]["to"] == "closing"
        finally:
            stream.close()


async def test_a_webhook_accepted_by_a_killed_process_mints_exactly_once(cluster: Cluster) -> None:
    rt, stripe = cluster.runtime, cluster.stripe
    sub = f"dev|mp-pay-{uuid.uuid4().hex[:8]}"
    headers = {"Authorization": "Bearer " + cluster.dev.mint(["cloud-user"], sub=sub)}
    async with _session(cluster.a) as a:
        body = {"amount_cents": 1_000, "currency": "usd"}
        async with a.post("/api/payments/create-intent", json=body, headers=headers) as resp:
            assert resp.status == 201, await resp.text()
            created = await resp.json()
    pid = created["payment"]["payment_intent_id"]
    units = created["quote"]["credit_units"]
    event = stripe.payment_intent_succeeded_event(pid)
    status, text = await stripe.send_event(cluster.a.base + "/api/payments/webhook", event)
    assert status == 200, text
    assert await cluster.a.stop(signal.SIGKILL) == -signal.SIGKILL  # accepted, then gone at once

    async def mint_row() -> list[OutboxTx]:
        async with rt.sessionmaker() as s:
            rows = list(await s.scalars(select(OutboxTx).where(OutboxTx.idempotency_key == f"mint:{pid}")))
        return rows if rows and rows[0].status == OutboxStatus.CONFIRMED else []

    await _eventually(mint_row, "B's sender confirms the mint A committed", within=60)
    # Stripe did not see A's answer in time and delivers again, to B: nothing more is minted
    status, text = await stripe.send_event(cluster.b.base + "/api/payments/webhook", event)
    assert status == 200 and '"duplicate"' in text, text
    async with rt.sessionmaker() as s:
        entry = await get_entry(s, pid)
        rows = list(await s.scalars(select(OutboxTx).where(OutboxTx.idempotency_key == f"mint:{pid}")))
    assert entry is not None and len(rows) == 1
    token = CreditTokenClient(rt.chain.w3, rt.manifest.address("CreditToken"))
    assert await token.balance_of(entry.wallet_address) == units  # exactly one mint
    assert await token.ref_used(mint_ref(pid))


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _name(pid: int) -> str:
    return f"{socket.gethostname()}:{pid}"


async def test_serve_refuses_a_chain_without_a_manifest(cluster: Cluster) -> None:
    """Today's ``up`` would deploy a brand-new suite here; ``serve`` says what to do instead."""
    empty = cluster.tmp / "no-manifest"
    served = await _start({**cluster.env, "CLOUDMARKET_DATA_DIR": str(empty)}, cluster.tmp)
    assert await asyncio.wait_for(served.proc.wait(), START_TIMEOUT) == 2, served.output()
    out = served.output()
    assert "no deployment manifest for chain" in out and "cloudmarket deploy" in out, out
    # `serve --workers N`: the master's preflight, before anything forks, says the same
    rt = cluster.runtime
    settings = rt.settings.with_(data_dir=empty)
    with pytest.raises(SettingsError, match="no deployment manifest for chain"):
        await preflight(settings)
    assert not (empty / "manifests").exists()  # nothing deployed


async def test_workers_stop_on_sigterm(cluster: Cluster) -> None:
    """Last: B's master stops both workers (their runtimes closed) and exits 0."""
    workers = _children(cluster.b.proc.pid)
    assert await cluster.b.stop() == 0, cluster.b.output()
    assert not [pid for pid in workers if _alive(pid)]
    assert "cloudmarket: serving" in cluster.b.output()


# ---- refusals (no processes, no chain) ----------------------------------------------------------------
def _cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *args: str, **env: str) -> int:
    for key in list(os.environ):
        if key.startswith("CLOUDMARKET_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CLOUDMARKET_DATA_DIR", str(tmp_path))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return main(list(args))


def test_serve_refuses_sqlite_with_several_workers(monkeypatch, tmp_path, capsys) -> None:
    code = _cli(monkeypatch, tmp_path, "serve", "--workers", "2", CLOUDMARKET_CHAIN_URL="eth-tester://")
    assert code == 2
    assert "CLOUDMARKET_DATABASE_URL: --workers 2 needs PostgreSQL" in capsys.readouterr().err


def test_serve_refuses_payments_without_a_webhook_secret(monkeypatch, tmp_path, capsys) -> None:
    code = _cli(
        monkeypatch,
        tmp_path,
        "serve",
        CLOUDMARKET_CHAIN_URL="eth-tester://",
        CLOUDMARKET_STRIPE_SECRET_KEY="sk_x",
    )
    assert code == 2
    assert "CLOUDMARKET_STRIPE_WEBHOOK_SECRET: payments are on" in capsys.readouterr().err


def test_the_dev_issuer_is_refused_in_production(monkeypatch, tmp_path, capsys) -> None:
    code = _cli(
        monkeypatch, tmp_path, "serve", CLOUDMARKET_ENV="production", CLOUDMARKET_AUTH_DEV_ISSUER="true"
    )
    assert code == 2
    assert "CLOUDMARKET_AUTH_DEV_ISSUER" in capsys.readouterr().err
    with pytest.raises(ValueError, match="dev token issuer is refused"):
        Settings(env="production", auth_dev_issuer=True).check_serve()
