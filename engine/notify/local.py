"""In-process hub: a dict ``topic -> subscriptions``; publishing resolves the waiters' futures.

Cost: one dict lookup plus one ``set_result`` per waiter on the topic; an idle waiter is one small
object and one future, nothing polls. A subscription leaves the map when closed — ``async with`` closes
it on every exit path, cancellation included — and an empty topic is removed, so memory follows the
number of live waiters only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from engine.notify import wire


class Subscription:
    """One waiter's registration on a topic.

    Wake-ups are latched: a publication that arrives while nobody is waiting makes the next
    :meth:`wait` return True at once. Several publications before a wait coalesce into one wake-up
    (``payload`` holds the latest).
    """

    __slots__ = ("_closed", "_hub", "_waiter", "_woken", "payload", "topic")

    def __init__(self, hub: LocalHub, topic: str) -> None:
        self._hub = hub
        self.topic = topic
        self.payload = ""
        self._woken = False
        self._closed = False
        self._waiter: asyncio.Future[None] | None = None

    @property
    def closed(self) -> bool:
        return self._closed

    def _wake(self, payload: str) -> None:
        self._woken = True
        self.payload = payload
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _detach(self) -> None:
        """Called by the hub when it closes: wake the waiter, accept no further waits."""
        self._closed = True
        self._wake("")

    # The timeout is the point of the API (a long-poll answers at it), not a cancellation substitute.
    async def wait(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """True when woken (now or by a latched publication), False when ``timeout`` seconds pass first.

        A closed subscription (or one whose hub closed) returns True once if a wake was pending, then
        False at once.
        """
        if not self._woken:
            if self._closed:
                return False
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiter = waiter
            try:
                async with asyncio.timeout(timeout):
                    await waiter
            except TimeoutError:
                return False
            finally:
                self._waiter = None
        self._woken = False
        return True

    def close(self) -> None:
        """Leave the topic. Idempotent. A task still inside :meth:`wait` returns True (re-read, then go)."""
        if not self._closed:
            self._closed = True
            self._hub._remove(self)
            if self._waiter is not None:
                self._wake("")

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> str:
        """Each wake-up yields the latest payload; iteration ends when the subscription closes."""
        if not await self.wait() or self._closed:
            raise StopAsyncIteration
        return self.payload


class LocalHub:
    """A hub for one process (and the fan-out stage of :class:`~engine.notify.PostgresHub`)."""

    def __init__(self) -> None:
        self._topics: dict[str, dict[Subscription, None]] = {}
        self._closed = False

    # -- Hub interface -------------------------------------------------------------------------------

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self.close_all()

    async def publish(self, topic: str, payload: str = "") -> None:
        wire.encode("", topic, payload)  # same limits as the PostgreSQL hub
        self.deliver(topic, payload)

    def subscribe(self, topic: str) -> Subscription:
        wire.check_topic(topic)
        sub = Subscription(self, topic)
        if self._closed:
            sub._detach()
            return sub
        subs = self._topics.get(topic)
        if subs is None:
            subs = self._topics[topic] = {}
        subs[sub] = None
        return sub

    @asynccontextmanager
    async def listener(self, topic: str) -> AsyncIterator[Subscription]:
        sub = self.subscribe(topic)
        try:
            yield sub
        finally:
            sub.close()

    async def __aenter__(self) -> LocalHub:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- fan-out -------------------------------------------------------------------------------------

    def deliver(self, topic: str, payload: str = "") -> int:
        """Wake the waiters on ``topic`` in this process; returns how many were registered."""
        subs = self._topics.get(topic)
        if not subs:
            return 0
        for sub in subs:
            sub._wake(payload)
        return len(subs)

    def wake_all(self) -> int:
        """Wake every waiter (after notifications may have been lost). Returns how many."""
        count = 0
        for subs in self._topics.values():
            for sub in subs:
                sub._wake("")
            count += len(subs)
        return count

    def close_all(self) -> None:
        self._closed = True
        topics, self._topics = self._topics, {}
        for subs in topics.values():
            for sub in subs:
                sub._detach()

    def _remove(self, sub: Subscription) -> None:
        subs = self._topics.get(sub.topic)
        if subs is not None:
            subs.pop(sub, None)
            if not subs:
                del self._topics[sub.topic]

    # -- introspection (tests, /metrics) -------------------------------------------------------------

    @property
    def topic_count(self) -> int:
        return len(self._topics)

    @property
    def subscription_count(self) -> int:
        return sum(len(subs) for subs in self._topics.values())
