"""PostgresHub against a real throwaway PostgreSQL: cross-hub and cross-process wake-ups, own-echo
suppression, and listener reconnect after ``pg_terminate_backend``."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from engine.notify import PostgresHub, asyncpg_dsn
from tests.support.postgres import PgCluster

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
WAIT = 30  # generous upper bound; the tests assert outcomes, never durations


@pytest.fixture(scope="module")
def notify_url(pg_cluster: PgCluster) -> str:
    return pg_cluster.createdb(f"notify_{uuid.uuid4().hex[:8]}")


@pytest.fixture
async def hub_a(notify_url: str) -> AsyncIterator[PostgresHub]:
    async with PostgresHub(notify_url) as hub:
        yield hub


@pytest.fixture
async def hub_b(notify_url: str) -> AsyncIterator[PostgresHub]:
    async with PostgresHub(notify_url) as hub:
        yield hub


def test_asyncpg_dsn_strips_the_driver() -> None:
    assert (
        asyncpg_dsn("postgresql+asyncpg://postgres@127.0.0.1:5/db") == "postgresql://postgres@127.0.0.1:5/db"
    )
    with pytest.raises(ValueError):
        asyncpg_dsn("sqlite+aiosqlite:///x.db")


async def test_publish_on_one_hub_wakes_the_right_waiter_on_another(
    hub_a: PostgresHub, hub_b: PostgresHub
) -> None:
    assert hub_a.listener_pid != hub_b.listener_pid
    async with hub_b.listener("node:7") as seven, hub_b.listener("node:8") as eight:
        async with hub_a.listener("node:7") as own:
            await hub_a.publish("node:7", "placed")
            assert await seven.wait(WAIT) is True
            assert seven.payload == "placed"
            assert await own.wait(0) is True  # delivered locally at once

            # Barrier: B publishes after A's NOTIFY committed, so A's listener sees A's own echo first.
            async with hub_a.listener("barrier") as barrier:
                await hub_b.publish("barrier")
                assert await barrier.wait(WAIT) is True
            assert await own.wait(0) is False  # the echo was recognised and skipped
        assert await eight.wait(0) is False


async def test_publish_from_another_process_wakes_a_waiter(hub_b: PostgresHub, notify_url: str) -> None:
    script = (
        "import asyncio, sys\n"
        "from engine.notify import PostgresHub\n"
        "async def main():\n"
        "    async with PostgresHub(sys.argv[1]) as hub:\n"
        "        await hub.publish('deployment:17', 'from-child')\n"
        "asyncio.run(main())\n"
    )
    async with hub_b.listener("deployment:17") as sub:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, notify_url, cwd=ROOT, stderr=subprocess.PIPE
        )
        _, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        assert await sub.wait(WAIT) is True
        assert sub.payload == "from-child"


async def test_foreign_notification_on_the_channel_is_ignored(hub_b: PostgresHub, notify_url: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(notify_url))
    try:
        async with hub_b.listener("node:1") as sub, hub_b.listener("barrier2") as barrier:
            await conn.execute("SELECT pg_notify('cloudmarket_wake', 'garbage without separators')")
            await conn.execute("SELECT pg_notify('cloudmarket_wake', E'someone\\nbarrier2\\n')")
            assert await barrier.wait(WAIT) is True
            assert await sub.wait(0) is False
            assert hub_b.listener_pid is not None
    finally:
        await conn.close()


async def test_listener_reconnects_after_backend_is_terminated(
    hub_a: PostgresHub, hub_b: PostgresHub, notify_url: str
) -> None:
    old_pid = hub_b.listener_pid
    assert old_pid is not None
    admin = await asyncpg.connect(asyncpg_dsn(notify_url))
    try:
        async with hub_b.listener("node:1") as idle:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", old_pid) is True
            # every waiter is woken once the listener is back (notifications may have been missed)
            assert await idle.wait(WAIT) is True
        await asyncio.wait_for(hub_b.wait_listening(), WAIT)
        assert hub_b.reconnects == 1
        assert hub_b.listener_pid not in (None, old_pid)
        async with hub_b.listener("node:2") as later:
            await hub_a.publish("node:2", "after-reconnect")
            assert await later.wait(WAIT) is True
            assert later.payload == "after-reconnect"
    finally:
        await admin.close()


async def test_publish_failure_is_counted_not_raised(notify_url: str) -> None:
    hub = PostgresHub(notify_url, publish_timeout=5)
    await hub.start()
    async with hub.listener("node:3") as sub:
        await hub._pool.close()  # the publish path is gone, as when the database is unreachable
        await hub.publish("node:3")
        assert hub.publish_failures == 1
        assert await sub.wait(0) is True  # local waiters are still woken
    hub._pool = None
    await hub.close()
