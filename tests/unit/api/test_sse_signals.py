"""``api.sse.follow`` with side ``signals`` (the notifications stream's ``event: wallet``): a publication on a
signal topic is written as its event with the stored stream's last id, whether it arrives while the stream
waits or before its first read; stored events still wake the stream; nothing is written for other topics.
Real aiohttp server and client, the in-process hub."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api import sse
from api.keys import METRICS
from api.metrics import Metrics
from engine.notify import LocalHub


async def test_signals_are_written_with_the_last_stored_id() -> None:
    hub = LocalHub()
    stored: list[sse.Event] = []

    async def read(last: int) -> list[sse.Event]:
        return [e for e in stored if e.id > last]

    def wallet(payload: str) -> tuple[str, dict[str, Any]]:
        return "wallet", {"block": int(payload)}

    async def handler(request: web.Request) -> web.StreamResponse:
        return await sse.follow(
            request, hub, "main", 0, read, lambda: False, max_seconds=2, signals={"side": wallet}
        )

    app = web.Application()
    app[METRICS] = Metrics()
    app.router.add_get("/s", handler)
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/s")
        assert resp.status == 200
        text = ""

        async def until(marker: str) -> None:
            nonlocal text
            while marker not in text:
                text += (await asyncio.wait_for(resp.content.readany(), 5)).decode()

        await hub.publish("side", "7")  # while the stream waits
        await until("event: wallet")
        stored.append(sse.Event(5, "notification", {"n": 1}))
        await hub.publish("main")
        await until("event: notification")
        await hub.publish("other", "9")  # not a topic of this stream
        await hub.publish("side", "8")
        await hub.publish("side", "9")  # coalesces with the previous one: one event, the latest payload
        await until('"block":9')
        resp.close()
    blocks = [b for b in text.split("\n\n") if b.strip() and not b.startswith(":")]
    assert blocks == [
        'id: 0\nevent: wallet\ndata: {"block":7}',
        'id: 5\nevent: notification\ndata: {"n":1}',
        'id: 5\nevent: wallet\ndata: {"block":9}',
    ] or blocks == [  # the two last publications may also reach the stream one by one
        'id: 0\nevent: wallet\ndata: {"block":7}',
        'id: 5\nevent: notification\ndata: {"n":1}',
        'id: 5\nevent: wallet\ndata: {"block":8}',
        'id: 5\nevent: wallet\ndata: {"block":9}',
    ]


async def test_a_signal_published_before_the_first_read_is_not_lost() -> None:
    hub = LocalHub()

    async def read(last: int) -> list[sse.Event]:
        await hub.publish("side", "3")  # arrives after subscribe, before the stream waits
        return []

    async def handler(request: web.Request) -> web.StreamResponse:
        return await sse.follow(
            request,
            hub,
            "main",
            0,
            read,
            lambda: False,
            max_seconds=0.5,
            signals={"side": lambda p: ("wallet", {"block": int(p)})},
        )

    app = web.Application()
    app[METRICS] = Metrics()
    app.router.add_get("/s", handler)
    async with TestClient(TestServer(app)) as client:
        text = await (await client.get("/s")).text()
    assert 'event: wallet\ndata: {"block":3}' in text
