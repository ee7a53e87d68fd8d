"""The hub interface shared by :class:`~engine.notify.LocalHub` and :class:`~engine.notify.PostgresHub`."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from engine.notify.local import Subscription


class Hub(Protocol):
    """Wake waiters on a topic. See the module docs of :mod:`engine.notify` for the calling contract."""

    async def start(self) -> None:
        """Open connections (no-op for the local hub). Call once before use."""

    async def close(self) -> None:
        """Close connections and wake every waiter so none sleeps on a closed hub."""

    async def publish(self, topic: str, payload: str = "") -> None:
        """Wake every waiter on ``topic`` (in every process for a shared hub). Call after commit."""

    def subscribe(self, topic: str) -> Subscription:
        """Register a waiter now; close it (or use it as ``async with``) when done."""

    def listener(self, topic: str) -> AbstractAsyncContextManager[Subscription]:
        """``async with hub.listener(topic) as sub: ...`` — subscribed inside the block only."""
