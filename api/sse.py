"""Server-sent events: framing and a stream that replays, then follows a hub topic.

:func:`follow` implements the resumable pattern: subscribe to the topic FIRST, then read every event
after the client's last id (``Last-Event-ID`` header or ``?after=``), write them, then wait on the
subscription; a publication between the read and the wait is latched, so nothing is missed. A comment
line (``: keep-alive``) goes out when nothing happened for ``keepalive`` seconds. The stream ends after
``max_seconds`` (clients reconnect with ``Last-Event-ID``), when ``done()`` says so after a read, when the
hub closes, or when the client goes away.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from engine.notify import Hub

CONTENT_TYPE = "text/event-stream"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    id: int
    event: str
    data: dict[str, Any]


def encode(ev: Event) -> bytes:
    body = json.dumps(ev.data, separators=(",", ":"))
    return f"id: {ev.id}\nevent: {ev.event}\ndata: {body}\n\n".encode()


# event ids are INTEGER primary keys (int32 on PostgreSQL): a larger Last-Event-ID is not one of ours
MAX_EVENT_ID = 2**31 - 1


def last_event_id(request: web.Request, after: int | None) -> int | None:
    """The ``Last-Event-ID`` header (wins: it is what a reconnecting EventSource sends) or ``after``;
    ``None`` when the header is not a non-negative integer."""
    raw = request.headers.get("Last-Event-ID")
    if raw is None or raw.strip() == "":
        return after or 0
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18 or int(raw) > MAX_EVENT_ID:
        return None
    return int(raw)


async def follow(
    request: web.Request,
    hub: Hub,
    topic: str,
    after: int,
    read: Callable[[int], Awaitable[Sequence[Event]]],
    done: Callable[[], bool],
    *,
    max_seconds: float,
    keepalive: float = 15.0,
) -> web.StreamResponse:
    resp = web.StreamResponse(
        headers={"Content-Type": CONTENT_TYPE, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_seconds
    try:
        async with hub.listener(topic) as sub:
            await resp.prepare(request)
            last = after
            while True:
                for ev in await read(last):
                    await resp.write(encode(ev))
                    last = ev.id
                remaining = deadline - loop.time()
                if done() or remaining <= 0 or sub.closed:
                    break
                if not await sub.wait(min(keepalive, remaining)):
                    if sub.closed:
                        break
                    if deadline - loop.time() > 0:
                        await resp.write(b": keep-alive\n\n")
        await resp.write_eof()
    except ConnectionResetError:
        # The client went away (it reconnects with Last-Event-ID when it wants more): not an error.
        # aiohttp's ClientConnectionResetError subclasses ConnectionResetError.
        log.debug("SSE client disconnected from %s", topic)
    return resp
