"""About the service itself: ``GET /openapi.json`` (built from the route registry) and ``GET /metrics``."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import func, select

from api.keys import METRICS, ROUTE_SPECS, SESSIONMAKER
from api.openapi import RouteSpec, RouteTable, build_document
from engine.outbox.models import OutboxTx

routes = RouteTable(tag="meta")


@routes.get(
    "/openapi.json",
    summary="This API's OpenAPI 3.1 document",
    response={"type": "object", "required": ["openapi", "paths"]},
)
async def openapi(request: web.Request) -> web.Response:
    specs: list[RouteSpec] = request.app[ROUTE_SPECS]
    return web.json_response(build_document(specs))


@routes.get(
    "/metrics",
    summary="Prometheus metrics: requests by route and status, outbox rows by status",
    content_type="text/plain",
    response={"type": "string"},
)
async def metrics(request: web.Request) -> web.Response:
    async with request.app[SESSIONMAKER]() as session:
        rows = (await session.execute(select(OutboxTx.status, func.count()).group_by(OutboxTx.status))).all()
    outbox: dict[tuple[tuple[str, str], ...], int] = {
        (("status", str(status)),): int(count) for status, count in rows
    }
    text = request.app[METRICS].render({"cloudmarket_outbox_transactions": outbox})
    return web.Response(text=text, content_type="text/plain")
