"""Shared fixtures: real anvil, real PostgreSQL 15 (throwaway cluster), SQLite files, migrated schemas.

Database tests take ``db_session`` and are run once per backend (``sqlite``, ``postgresql``); each test
rolls back inside a savepoint (``join_transaction_mode="create_savepoint"``), so tests never see each
other's rows.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from chain.devchain import Anvil
from engine import db
from tests.support.postgres import PgCluster, pg_bin, start_cluster

# CI runs property tests derandomized (same examples every run: a red CI is reproducible, never a coin
# toss); local runs explore new examples. `--hypothesis-profile=explore` forces exploring anywhere.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
hypothesis_settings.register_profile("explore", derandomize=False)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")

BACKENDS = ["sqlite", "postgresql"]
_db_counter = itertools.count()
T = TypeVar("T")


class SessionCache:
    """Resources built once per key for the whole session and closed at its end, in reverse order.

    pytest keeps ONE value of a parametrized session-scoped fixture at a time: when consecutive tests switch
    the param (sqlite -> postgresql -> the next file's sqlite ...), it tears the fixture down and builds it
    again, and under ``--dist loadfile`` that happened in every file (a runtime: a chain deployment and a
    migrated database, 2-3 s each time; ~4 minutes of a full run). The parametrized fixtures fetch their
    value from here instead, so a switch costs nothing."""

    def __init__(self) -> None:
        self._values: dict[Hashable, Any] = {}
        self._closers: list[Callable[[], Awaitable[None]]] = []

    async def get(
        self, key: Hashable, build: Callable[[], Awaitable[T]], close: Callable[[T], Awaitable[None]]
    ) -> T:
        if key not in self._values:
            value = await build()
            self._values[key] = value
            self._closers.append(lambda: close(value))
        return cast(T, self._values[key])

    async def aclose(self) -> None:
        while self._closers:
            await self._closers.pop()()


@pytest.fixture(scope="session")
async def session_cache(request: pytest.FixtureRequest) -> AsyncIterator[SessionCache]:
    # the PostgreSQL cluster (when there is one) is set up first, so it is torn down after what is cached
    if pg_bin() is not None:
        request.getfixturevalue("pg_cluster")
    cache = SessionCache()
    try:
        yield cache
    finally:
        await cache.aclose()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    if pg_bin() is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL 15 binaries are required in CI")
        pytest.skip("PostgreSQL binaries not installed")
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def anvil() -> Iterator[Anvil]:
    """One automining anvil for the session. Tests that need a clean chain use ``fresh_anvil``."""
    with Anvil() as node:
        yield node


@pytest.fixture
def fresh_anvil() -> Iterator[Anvil]:
    with Anvil() as node:
        yield node


def new_database_url(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> str:
    """A brand-new empty database on ``backend`` (a SQLite file, or a new PostgreSQL database)."""
    n = next(_db_counter)
    if backend == "sqlite":
        path: Path = tmp_path_factory.mktemp("sqlite") / f"t{n}.db"
        return f"sqlite+aiosqlite:///{path}"
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    return cluster.createdb(f"t{n}")


@pytest.fixture(scope="session", params=BACKENDS)
async def migrated_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, session_cache: SessionCache
) -> AsyncEngine:
    """A database per backend, migrated to head once per session."""

    async def build() -> AsyncEngine:
        url = new_database_url(request.param, tmp_path_factory, request)
        await db.upgrade(url)
        return db.make_engine(url)

    async def close(engine: AsyncEngine) -> None:
        await engine.dispose()

    return await session_cache.get(("migrated_engine", request.param), build, close)


@pytest.fixture
async def db_session(migrated_engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session whose every commit lands in a savepoint of an outer transaction rolled back at the end."""
    async with migrated_engine.connect() as conn:
        outer = await conn.begin()
        session = AsyncSession(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
        try:
            yield session
        finally:
            await session.close()
            await outer.rollback()


@pytest.fixture
async def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh, migrated database per test, for tests that need real commits seen by other processes.

    Parametrize indirectly with a backend name, or get SQLite by default.
    """
    backend = getattr(request, "param", "sqlite")
    url = new_database_url(backend, tmp_path_factory, request)
    await db.upgrade(url)
    return url
