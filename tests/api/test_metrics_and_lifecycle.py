"""/metrics counts requests per route template and outbox rows per status; background tasks stop cleanly."""

from __future__ import annotations

import asyncio

from sqlalchemy import delete

from api.app import create_app
from engine.outbox.models import OutboxTx
from engine.outbox.services import enqueue
from tests.api.conftest import serve


async def test_request_counts_by_route_and_status(client):
    for _ in range(2):
        assert (await client.get("/healthz")).status == 200
    await client.get("/api/nope")  # outside /api a GET is the web console's (api.console)
    text = await (await client.get("/metrics")).text()
    assert 'cloudmarket_http_requests_total{method="GET",route="/healthz",status="200"} 2' in text
    assert 'cloudmarket_http_requests_total{method="GET",route="unmatched",status="404"} 1' in text


async def test_outbox_rows_by_status(eth_runtime):
    key = "metrics-test-row"
    async with eth_runtime.sessionmaker() as session, session.begin():
        await enqueue(session, kind="test", to="0x" + "11" * 20, data=b"", idempotency_key=key, args={})
    try:
        async with serve(create_app(eth_runtime, background=False)) as client:
            text = await (await client.get("/metrics")).text()
        assert 'cloudmarket_outbox_transactions{status="pending"} 1' in text
    finally:
        async with eth_runtime.sessionmaker() as session, session.begin():
            await session.execute(delete(OutboxTx).where(OutboxTx.idempotency_key == key))


def _sender_tasks() -> list[asyncio.Task]:
    return [t for t in asyncio.all_tasks() if t.get_name() == "outbox-sender" and not t.done()]


async def test_outbox_sender_runs_with_the_app_and_stops_with_it(eth_runtime):
    assert _sender_tasks() == []
    async with serve(create_app(eth_runtime)):
        assert len(_sender_tasks()) == 1
    assert _sender_tasks() == []
