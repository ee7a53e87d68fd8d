"""A fake clock for the delivery worker and a small local webhook receiver (a real HTTP server)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from aiohttp import web

from engine.notifications.signing import HEADER, verify_signature


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime.now(UTC) + timedelta(seconds=1))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Received:
    header: str
    body: bytes
    at: float
    accepted: bool


@dataclass
class Receiver:
    """Verifies ``Cloudmarket-Signature`` with the endpoint's secret (set once it is known) and a
    ``tolerance`` in seconds; answers 200 when valid, 400 when not, or ``fail_with`` when set."""

    secret: str = ""
    tolerance: int = 300
    fail_with: int | None = None
    received: list[Received] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        header = request.headers.get(HEADER, "")
        ok = verify_signature(self.secret, header, body, self.tolerance)
        self.received.append(Received(header, body, time.time(), ok))
        if self.fail_with is not None:
            return web.Response(status=self.fail_with)
        return web.Response(status=200 if ok else 400, text="ok" if ok else "bad signature")


@asynccontextmanager
async def receiving(receiver: Receiver) -> AsyncIterator[Receiver]:
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    receiver.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield receiver
    finally:
        await runner.cleanup()
