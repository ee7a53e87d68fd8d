"""Liveness and readiness: ``GET /healthz`` (the process answers) and ``GET /readyz`` (its parts answer).

Readiness asks the database for ``SELECT 1`` and the chain for ``eth_blockNumber``, concurrently, each
within :data:`CHECK_TIMEOUT` seconds. A failed check is named in the 503 body by its exception type only
(an RPC URL in an error message may carry an API key).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from aiohttp import web

from api.errors import error_response
from api.keys import CHAIN, SESSIONMAKER
from api.openapi import RouteTable
from engine.meta.commands import chain_answers, database_answers

CHECK_TIMEOUT = 3.0

routes = RouteTable(tag="health")

CHECK_SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}, "error": {"type": "string"}}}
READY_SCHEMA = {
    "type": "object",
    "properties": {
        "status": {"type": "string", "enum": ["ready"]},
        "checks": {"type": "object", "additionalProperties": CHECK_SCHEMA},
    },
}


@routes.get(
    "/healthz",
    public=True,
    summary="Liveness: the process answers",
    response={"type": "object", "properties": {"status": {"type": "string", "enum": ["ok"]}}},
)
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _check(probe: Awaitable[Any]) -> dict[str, Any]:
    try:
        await asyncio.wait_for(probe, timeout=CHECK_TIMEOUT)
    except TimeoutError:
        return {"ok": False, "error": "timeout"}
    except Exception as exc:  # any failure means "not ready"; its type says which kind
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True}


@routes.get(
    "/readyz",
    public=True,
    summary="Readiness: the database and the chain answer (503 names the failed check)",
    response=READY_SCHEMA,
)
async def readyz(request: web.Request) -> web.Response:
    database, chain = await asyncio.gather(
        _check(database_answers(request.app[SESSIONMAKER])), _check(chain_answers(request.app[CHAIN]))
    )
    checks = {"database": database, "chain": chain}
    failed = [name for name, result in checks.items() if not result["ok"]]
    if failed:
        return error_response(
            503, "not_ready", f"check failed: {', '.join(failed)}", {"failed": failed, "checks": checks}
        )
    return web.json_response({"status": "ready", "checks": checks})
