"""/healthz and /readyz against real parts; readiness fails (503, naming the check) when anvil stops."""

from __future__ import annotations

import asyncio

from api.app import create_app
from chain.devchain import Anvil
from engine.runtime import start_runtime
from engine.settings import Settings
from tests.api.conftest import serve


async def test_healthz(client):
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert await resp.json() == {"status": "ok"}


async def test_readyz_ok(client):
    resp = await client.get("/readyz")
    assert resp.status == 200
    body = await resp.json()
    assert body == {"status": "ready", "checks": {"database": {"ok": True}, "chain": {"ok": True}}}


async def test_readyz_503_names_the_chain_when_anvil_stops(fresh_anvil: Anvil, tmp_path, database_url):
    settings = Settings(data_dir=tmp_path, database_url=database_url, chain_url=fresh_anvil.url)
    runtime = await start_runtime(settings, spawn_dev_chain=False)
    try:
        async with serve(create_app(runtime, background=False)) as client:
            assert (await client.get("/readyz")).status == 200
            await asyncio.to_thread(fresh_anvil.stop)
            resp = await client.get("/readyz")
            assert resp.status == 503
            error = (await resp.json())["error"]
            assert error["code"] == "not_ready"
            assert error["details"]["failed"] == ["chain"]
            assert error["details"]["checks"]["database"] == {"ok": True}
            assert error["details"]["checks"]["chain"]["ok"] is False
            # liveness is unaffected
            assert (await client.get("/healthz")).status == 200
    finally:
        await runtime.close()
