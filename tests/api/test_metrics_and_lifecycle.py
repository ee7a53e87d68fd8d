"""/metrics (prometheus-client): request latency histograms per route template, scrape-time outbox, sender
and indexer gauges, held long-polls and SSE streams, scheduler leadership and job runs, the multi-process
mode; background tasks stop cleanly."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import delete, select

from api.app import create_app
from api.auth.devissuer import DevIssuer
from api.keys import METRICS
from api.metrics import Metrics
from api.routes import identity
from api.routes.workloads import POLLS
from engine.indexer.models import IndexerCursor
from engine.meta.models import OutboxGauge, ServiceGauges
from engine.outbox.models import OutboxTx, SignerNonce
from engine.outbox.services import enqueue
from engine.runtime import Runtime
from engine.scheduler import FileLeaderLock, JobSpec, LeaderElector
from tests.api.conftest import serve
from tests.api.workloads.support import make_node

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

HIST = "cloudmarket_http_request_duration_seconds"


def samples(text: str) -> Samples:
    """Every sample of an exposition, by (name, labels)."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


async def scrape(client: Any) -> Samples:
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    return samples(await resp.text())


async def test_request_latency_histogram_by_method_route_template_and_status_class(client):
    for _ in range(2):
        assert (await client.get("/healthz")).status == 200
    await client.get("/api/nope")  # outside /api a GET is the web console's (api.console)
    assert (await client.get("/api/cloud-provider/nodes/7/workloads")).status == 401  # no node token
    assert (await client.request("TRACE", "/healthz")).status == 405  # shown as "other"
    found = await scrape(client)

    healthz = {"method": "GET", "route": "/healthz", "status": "2xx"}
    assert value(found, HIST + "_count", **healthz) == 2
    assert value(found, HIST + "_bucket", **healthz, le="+Inf") == 2
    assert value(found, HIST + "_bucket", **healthz, le="60.0") == 2
    assert 0 < (value(found, HIST + "_sum", **healthz) or 0) < 60
    assert value(found, HIST + "_count", method="GET", route="unmatched", status="4xx") == 1
    workloads = "/api/cloud-provider/nodes/{node_id}/workloads"
    assert value(found, HIST + "_count", method="GET", route=workloads, status="4xx") == 1
    assert value(found, HIST + "_count", method="other", route="unmatched", status="4xx") == 1
    routes = {dict(labels)["route"] for (name, labels) in found if name == HIST + "_count"}
    assert not any("/7/" in r for r in routes)  # templates, never concrete paths
    # buckets are cumulative: the 1 ms bucket holds at most what +Inf holds
    assert (value(found, HIST + "_bucket", **healthz, le="0.001") or 0) <= 2


async def test_outbox_sender_and_indexer_gauges_at_scrape_time(eth_runtime: Runtime):
    key = "metrics-test-row"
    ctx = eth_runtime.context
    address, chain_id = ctx.signer_address.lower(), ctx.chain_id
    head = int(await eth_runtime.chain.w3.eth.block_number)
    mined = int(await eth_runtime.chain.w3.eth.get_transaction_count(ctx.signer_address, "latest"))
    async with eth_runtime.sessionmaker() as session, session.begin():
        await enqueue(session, kind="test", to="0x" + "11" * 20, data=b"", idempotency_key=key, args={})
        nonce_row = await session.scalar(
            select(SignerNonce).where(SignerNonce.address == address, SignerNonce.chain_id == chain_id)
        )
        saved_nonce = None if nonce_row is None else nonce_row.next_nonce
        if nonce_row is None:
            session.add(SignerNonce(address=address, chain_id=chain_id, next_nonce=mined + 2))
        else:
            nonce_row.next_nonce = mined + 2
        cursor = await session.get(IndexerCursor, chain_id)
        saved_cursor = (
            None if cursor is None else (cursor.block_number, cursor.block_hash, cursor.final_block)
        )
        if cursor is None:
            session.add(
                IndexerCursor(chain_id=chain_id, block_number=0, block_hash="0x" + "00" * 32, final_block=0)
            )
        else:
            cursor.block_number = 0
    try:
        async with serve(create_app(eth_runtime, background=False)) as client:
            found = await scrape(client)
        open_pending = value(found, "cloudmarket_outbox_transactions", status="pending")
        assert open_pending is not None and open_pending >= 1
        for status in ("signed", "broadcast", "mined"):  # every open status, zeros included
            assert value(found, "cloudmarket_outbox_transactions", status=status) is not None
        assert (
            value(found, "cloudmarket_outbox_transactions", status="confirmed") is None
        )  # history: not a gauge
        assert (value(found, "cloudmarket_outbox_depth") or 0) >= 1
        assert (value(found, "cloudmarket_outbox_oldest_age_seconds") or -1) >= 0
        assert value(found, "cloudmarket_chain_reachable") == 1
        assert value(found, "cloudmarket_sender_nonce_lag") == 2
        assert value(found, "cloudmarket_indexer_lag_blocks") == head
    finally:
        async with eth_runtime.sessionmaker() as session, session.begin():
            await session.execute(delete(OutboxTx).where(OutboxTx.idempotency_key == key))
            nonce_row = await session.scalar(
                select(SignerNonce).where(SignerNonce.address == address, SignerNonce.chain_id == chain_id)
            )
            if saved_nonce is None:
                await session.delete(nonce_row)
            else:
                nonce_row.next_nonce = saved_nonce
            cursor = await session.get(IndexerCursor, chain_id)
            if saved_cursor is None:
                await session.delete(cursor)
            else:
                cursor.block_number, cursor.block_hash, cursor.final_block = saved_cursor


async def _until(client: Any, name: str, expected: float) -> Samples:
    async def wait() -> Samples:
        while True:
            found = await scrape(client)
            if value(found, name) == expected:
                return found
            await asyncio.sleep(0.02)

    return await asyncio.wait_for(wait(), 30)


async def _held_by_the_app(app: Any) -> None:
    for _ in range(3000):
        if app[POLLS].held_count == 1:
            return
        await asyncio.sleep(0.01)


async def test_held_long_polls_and_open_sse_streams(eth_runtime: Runtime, tmp_path: Path):
    options = identity.IdentityOptions(
        env="dev",
        data_dir=tmp_path,
        chain_id=eth_runtime.chain.chain_id,
        dev_issuer=True,
        siwe_domain="metrics.test",
        siwe_uri="https://metrics.test",
    )
    app = create_app(eth_runtime, background=False, identity_options=options)
    async with serve(app) as client:
        node = await make_node(eth_runtime)
        url = f"/api/cloud-provider/nodes/{node.id}/workloads"
        first = await client.get(url, headers=node.headers)  # no cursor: answered at once, never held
        cursor = (await first.json())["cursor"]
        assert value(await scrape(client), "cloudmarket_longpolls_held") == 0
        held = asyncio.create_task(
            client.get(url, headers=node.headers, params={"wait": 60, "cursor": cursor})
        )
        await _until(client, "cloudmarket_longpolls_held", 1)
        await asyncio.wait_for(_held_by_the_app(app), 30)  # counted from the request's start: now held too
        app[POLLS].release_all()
        assert (await asyncio.wait_for(held, 30)).status == 200
        await _until(client, "cloudmarket_longpolls_held", 0)

        token = DevIssuer(tmp_path).mint(["cloud-user"], sub="dev|metrics-sse")
        assert value(await scrape(client), "cloudmarket_sse_streams_open") == 0
        stream = await client.get(
            "/api/notifications/stream",
            headers={"Authorization": f"Bearer {token}"},
            params={"max_seconds": 3},
        )
        assert stream.status == 200  # headers are out: the stream is open until max_seconds
        await _until(client, "cloudmarket_sse_streams_open", 1)
        await stream.read()  # the server ends it after max_seconds
        await _until(client, "cloudmarket_sse_streams_open", 0)


async def test_job_runs_by_outcome_and_the_leader_gauge(tmp_path: Path):
    metrics = Metrics()

    async def ok() -> None:
        return None

    async def broken() -> None:
        raise RuntimeError("job failed")

    specs = metrics.instrument_jobs(
        [JobSpec("fine", ok, {"seconds": 60}), JobSpec("broken", broken, {"seconds": 60})]
    )
    await specs[0].func()
    await specs[0].func()
    with pytest.raises(RuntimeError):
        await specs[1].func()
    elector = LeaderElector(FileLeaderLock(tmp_path / "scheduler.lock"), retry_interval=0.05)
    watch = asyncio.create_task(metrics.follow_leadership(elector))
    stop = asyncio.Event()
    try:
        assert value(samples(metrics.render().decode()), "cloudmarket_scheduler_leader") == 0
        campaign = asyncio.create_task(elector.run(stop))
        await asyncio.wait_for(elector.wait_for(True), 10)
        await asyncio.wait_for(_gauge_is(metrics, 1), 10)
        stop.set()
        await asyncio.wait_for(campaign, 10)  # steps down
        await asyncio.wait_for(_gauge_is(metrics, 0), 10)
    finally:
        stop.set()
        watch.cancel()
        await asyncio.gather(watch, return_exceptions=True)
    found = samples(metrics.render().decode())
    assert value(found, "cloudmarket_scheduler_leader") == 0  # the watch leaves 0 behind
    runs = "cloudmarket_scheduler_job_runs_total"
    assert value(found, runs, job="fine", outcome="ok") == 2
    assert value(found, runs, job="fine", outcome="failed") == 0
    assert value(found, runs, job="broken", outcome="failed") == 1
    assert value(found, runs, job="broken", outcome="ok") == 0


async def _gauge_is(metrics: Metrics, expected: float) -> None:
    for _ in range(1000):
        if value(samples(metrics.render().decode()), "cloudmarket_scheduler_leader") == expected:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"cloudmarket_scheduler_leader never became {expected}")


MULTIPROCESS = textwrap.dedent(
    """
    import os, sys
    from types import SimpleNamespace
    from api.metrics import Metrics, child_exit
    m = Metrics()
    for _ in range(3):
        m.observe("GET", "/healthz", 200, 2.0)
    m.scheduler_leader.set(1)
    m.long_polls.inc()
    sys.stdout.write(m.render().decode())
    sys.stdout.write("#PID %d\\n" % os.getpid())
    child_exit(None, SimpleNamespace(pid=os.getpid()))
    sys.stdout.write("#AFTER\\n" + m.render().decode())
    """
)


def test_multiprocess_mode_sums_files_and_labels_the_leader_by_pid(tmp_path: Path):
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", MULTIPROCESS], env=env, capture_output=True, text=True, check=True, timeout=120
    ).stdout
    before, after = out.split("#AFTER\n")
    pid = before.split("#PID ")[1].strip()
    found = samples(before.split("#PID ")[0])
    assert value(found, HIST + "_count", method="GET", route="/healthz", status="2xx") == 3
    assert value(found, "cloudmarket_scheduler_leader", pid=pid) == 1  # liveall: which process leads
    assert value(found, "cloudmarket_longpolls_held") == 1  # livesum: no pid label
    assert any(p.name.startswith("histogram_") for p in tmp_path.iterdir())
    gone = samples(after)
    assert value(gone, "cloudmarket_scheduler_leader", pid=pid) is None  # the dead worker's live gauges go
    assert value(gone, HIST + "_count", method="GET", route="/healthz", status="2xx") == 3  # counts stay


def _sender_tasks() -> list[asyncio.Task]:
    return [t for t in asyncio.all_tasks() if t.get_name() == "outbox-sender" and not t.done()]


async def test_outbox_sender_runs_with_the_app_and_stops_with_it(eth_runtime):
    assert _sender_tasks() == []
    async with serve(create_app(eth_runtime)):
        assert len(_sender_tasks()) == 1
    assert _sender_tasks() == []


def test_metrics_key_holds_one_registry_per_app(eth_runtime: Runtime):
    a, b = create_app(eth_runtime, background=False), create_app(eth_runtime, background=False)
    assert a[METRICS].registry is not b[METRICS].registry


def test_the_grafana_dashboard_reads_only_series_the_service_exposes():
    metrics = Metrics()
    metrics.observe("GET", "/healthz", 200, 1.0)
    metrics.instrument_jobs([JobSpec("fine", _nothing)])
    snapshot = ServiceGauges(
        outbox={"pending": OutboxGauge(1, 2.0)},
        chain_reachable=True,
        head_block=10,
        indexer_block=9,
        indexer_lag_blocks=1,
        next_nonce=3,
        mined_nonce=2,
        nonce_lag=1,
    )
    exposed = {name for name, _ in samples(metrics.render(snapshot).decode())}
    dashboard = (Path(__file__).resolve().parents[2] / "docs" / "grafana" / "cloudmarket.json").read_text()
    exprs = [t["expr"] for p in json.loads(dashboard)["panels"] for t in p["targets"]]
    used = {name for e in exprs for name in re.findall(r"cloudmarket_[a-z_]+", e)}
    assert used and used <= exposed, sorted(used - exposed)


async def _nothing() -> None:
    return None
