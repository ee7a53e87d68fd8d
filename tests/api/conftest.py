"""API fixtures: a real runtime (eth-tester chain, real SQLite / PostgreSQL) and an in-process HTTP client.

``eth_runtime`` is built once per backend for the session; ``client`` serves a fresh app on it per test
through aiohttp's TestServer (no pytest-aiohttp plugin needed). :func:`serve` serves any app.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api.app import create_app
from engine.runtime import Runtime, start_runtime
from engine.settings import Settings
from tests.conftest import SessionCache, new_database_url

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    client: TestClient[web.Request, web.Application] = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture(scope="session", params=BACKENDS)
async def eth_runtime(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, session_cache: SessionCache
) -> Runtime:
    """One runtime per backend for the session (an eth-tester chain with the contracts, a migrated database),
    shared by the API tests (tests.conftest.SessionCache: built once, not at every param switch)."""

    async def build() -> Runtime:
        url = new_database_url(request.param, tmp_path_factory, request)
        settings = Settings(
            data_dir=tmp_path_factory.mktemp("runtime"), database_url=url, chain_url="eth-tester://"
        )
        return await start_runtime(settings, spawn_dev_chain=False)

    async def close(runtime: Runtime) -> None:
        await runtime.close()

    return await session_cache.get(("eth_runtime", request.param), build, close)


@pytest.fixture
async def client(eth_runtime: Runtime) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    async with serve(create_app(eth_runtime)) as c:
        yield c
