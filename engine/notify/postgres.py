"""Cross-process hub over PostgreSQL ``LISTEN/NOTIFY``.

Each process holds ONE dedicated asyncpg connection that ``LISTEN``s on a single channel
(:data:`CHANNEL`); the topic travels in the payload (:mod:`engine.notify.wire`). Received notifications
fan out to local waiters through a :class:`~engine.notify.LocalHub`. Publishing delivers locally at once
and sends ``SELECT pg_notify(channel, payload)`` on a small separate pool (a connection runs one query
at a time, and the listener must stay free); the process's own echo is recognised by its origin id and
skipped.

When the listener connection drops (server restart, ``pg_terminate_backend``, network), a supervisor
reconnects with exponential backoff and then wakes *every* local waiter, because notifications sent in
the gap are gone; waiters re-read the database, which is the truth. A periodic ``SELECT 1`` on the
listener catches half-open connections that never report a close.

A failed publish is logged and counted (:attr:`PostgresHub.publish_failures`), not raised: the caller's
change is already committed and the remote waiters' timeouts cover the lost wake-up.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from engine.notify import wire
from engine.notify.local import LocalHub, Subscription

CHANNEL = "cloudmarket_wake"

log = logging.getLogger(__name__)


def asyncpg_dsn(url: str) -> str:
    """``postgresql+asyncpg://u@h:p/db`` (SQLAlchemy) -> ``postgresql://u@h:p/db`` (asyncpg)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"not a database URL: {url!r}")
    base = scheme.split("+", 1)[0]
    if base not in ("postgresql", "postgres"):
        raise ValueError(f"not a PostgreSQL URL: {url!r}")
    return f"postgresql://{rest}"


class PostgresHub:
    """A hub shared by every process connected to the same PostgreSQL database."""

    def __init__(
        self,
        dsn: str,
        *,
        channel: str = CHANNEL,
        reconnect_initial: float = 0.05,
        reconnect_max: float = 5.0,
        health_interval: float = 15.0,
        publish_timeout: float = 5.0,
        publish_pool_size: int = 2,
    ) -> None:
        self._dsn = asyncpg_dsn(dsn)
        self._channel = channel
        self._reconnect_initial = reconnect_initial
        self._reconnect_max = reconnect_max
        self._health_interval = health_interval
        self._publish_timeout = publish_timeout
        self._pool_size = publish_pool_size
        self._origin = secrets.token_hex(wire.ORIGIN_CHARS // 2)
        self._local = LocalHub()
        self._listen_conn: Any = None
        self._pool: Any = None
        self._lost = asyncio.Event()
        self._listening = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self.reconnects = 0
        self.publish_failures = 0

    # -- lifecycle -----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the publish pool and the listener connection (errors here are raised, not retried)."""
        self._pool = await asyncpg.create_pool(self._dsn, min_size=1, max_size=self._pool_size)
        try:
            await self._connect_listener()
        except BaseException:
            await self._pool.close()
            raise
        self._supervisor = asyncio.create_task(self._supervise(), name="notify-listener")

    async def close(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            try:
                await self._supervisor
            except asyncio.CancelledError:
                pass
            self._supervisor = None
        conn, self._listen_conn = self._listen_conn, None
        self._listening.clear()
        if conn is not None:
            conn.remove_termination_listener(self._on_terminated)
            await conn.close()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        self._local.close_all()

    async def __aenter__(self) -> PostgresHub:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- Hub interface -------------------------------------------------------------------------------

    async def publish(self, topic: str, payload: str = "") -> None:
        text = wire.encode(self._origin, topic, payload)  # a bad topic or size is a caller bug: raise
        self._local.deliver(topic, payload)
        if self._pool is None:
            raise RuntimeError("PostgresHub.publish before start()")
        try:
            async with asyncio.timeout(self._publish_timeout):
                await self._pool.execute("SELECT pg_notify($1, $2)", self._channel, text)
        except Exception:
            self.publish_failures += 1
            log.warning("notify publish failed", extra={"topic": topic}, exc_info=True)

    def subscribe(self, topic: str) -> Subscription:
        return self._local.subscribe(topic)

    @asynccontextmanager
    async def listener(self, topic: str) -> AsyncIterator[Subscription]:
        async with self._local.listener(topic) as sub:
            yield sub

    # -- introspection (tests, /metrics) -------------------------------------------------------------

    @property
    def local(self) -> LocalHub:
        return self._local

    @property
    def listener_pid(self) -> int | None:
        """Server pid of the listener connection (None while reconnecting)."""
        conn = self._listen_conn
        return None if conn is None else int(conn.get_server_pid())

    async def wait_listening(self) -> None:
        """Return once the listener connection is up (at once in the steady state)."""
        await self._listening.wait()

    # -- listener connection -------------------------------------------------------------------------

    async def _connect_listener(self) -> None:
        conn = await asyncpg.connect(self._dsn)
        try:
            await conn.add_listener(self._channel, self._on_notify)
        except BaseException:
            conn.terminate()
            raise
        conn.add_termination_listener(self._on_terminated)
        self._listen_conn = conn
        self._lost.clear()
        self._listening.set()

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, text: str) -> None:
        msg = wire.decode(text)
        if msg is None:
            log.warning("ignoring a foreign notification on %s", self._channel)
            return
        origin, topic, payload = msg
        if origin != self._origin:
            self._local.deliver(topic, payload)

    def _on_terminated(self, conn: Any) -> None:
        if conn is self._listen_conn:
            self._listening.clear()
            self._lost.set()

    async def _healthy(self) -> bool:
        conn = self._listen_conn
        if conn is None or conn.is_closed():
            return False
        try:
            async with asyncio.timeout(self._publish_timeout):
                await conn.fetchval("SELECT 1")
        except Exception:
            return False
        return True

    async def _supervise(self) -> None:
        while True:
            try:
                async with asyncio.timeout(self._health_interval):
                    await self._lost.wait()
            except TimeoutError:
                if await self._healthy():
                    continue
            await self._reconnect()

    async def _reconnect(self) -> None:
        self._listening.clear()
        old, self._listen_conn = self._listen_conn, None
        if old is not None:
            old.remove_termination_listener(self._on_terminated)
            old.terminate()
        delay = self._reconnect_initial
        while True:
            try:
                await self._connect_listener()
                break
            except Exception:
                log.warning("notify listener reconnect failed; retrying in %.2fs", delay, exc_info=True)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._reconnect_max)
        self.reconnects += 1
        woken = self._local.wake_all()
        log.info("notify listener reconnected", extra={"woken": woken, "reconnects": self.reconnects})
