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
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from api.keys import METRICS
from engine.notify import Hub, Subscription

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
    signals: Mapping[str, Callable[[str], tuple[str, dict[str, Any]]]] | None = None,
) -> web.StreamResponse:
    """Stream ``read(last)`` events, woken by ``topic`` (see the module docs).

    ``signals``: further topics whose publications are not stored events but wake-ups the client should
    see (``topic -> make(payload) -> (event name, data)``): each wake-up on one of them is written as that
    event, with the id of the last stored event written (so a client's ``Last-Event-ID`` stays a position
    in the stored stream). Several publications before the stream writes coalesce into one event.
    """
    resp = web.StreamResponse(
        headers={"Content-Type": CONTENT_TYPE, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_seconds
    try:
        async with contextlib.AsyncExitStack() as stack:
            sub = await stack.enter_async_context(hub.listener(topic))
            side = [
                (await stack.enter_async_context(hub.listener(t)), make)
                for t, make in (signals or {}).items()
            ]
            stack.enter_context(request.app[METRICS].sse_stream())  # cloudmarket_sse_streams_open
            await resp.prepare(request)
            last = after
            fired: set[int] = set()
            while True:
                for ev in await read(last):
                    await resp.write(encode(ev))
                    last = ev.id
                for i, (signal, make) in enumerate(side, start=1):
                    # woken while we waited (that wait consumed its latch), or latched since
                    if i in fired or await signal.wait(0):
                        name, data = make(signal.payload)
                        await resp.write(encode(Event(last, name, data)))
                remaining = deadline - loop.time()
                if done() or remaining <= 0 or sub.closed:
                    break
                fired = await _wait_any([sub, *(s for s, _ in side)], min(keepalive, remaining))
                if not fired:
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


async def _wait_any(subs: Sequence[Subscription], seconds: float) -> set[int]:
    """Wait until one of ``subs`` is woken or ``seconds`` pass; the indices of those whose wake-up this
    consumed (empty: timed out). A wait cancelled here keeps its latch for the next wait."""
    if len(subs) == 1:
        return {0} if await subs[0].wait(seconds) else set()
    waits = [asyncio.ensure_future(s.wait(seconds)) for s in subs]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
    return {
        i
        for i, w in enumerate(waits)
        if w.done() and not w.cancelled() and w.exception() is None and w.result()
    }
