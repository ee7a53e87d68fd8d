"""About the service itself: ``GET /openapi.json`` (built from the route registry) and ``GET /metrics``."""

from __future__ import annotations

from aiohttp import web

from api.keys import METRICS, ROUTE_SPECS, RUNTIME
from api.openapi import RouteSpec, RouteTable, build_document
from engine.meta.commands import outbox_counts

routes = RouteTable(tag="meta")


@routes.get(
    "/openapi.json",
    public=True,
    summary="This API's OpenAPI 3.1 document",
    response={"type": "object", "required": ["openapi", "paths"]},
)
async def openapi(request: web.Request) -> web.Response:
    specs: list[RouteSpec] = request.app[ROUTE_SPECS]
    return web.json_response(build_document(specs))


@routes.get(
    "/metrics",
    public=True,
    summary="Prometheus metrics: requests by route and status, outbox rows by status",
    content_type="text/plain",
    response={"type": "string"},
)
async def metrics(request: web.Request) -> web.Response:
    counts = await outbox_counts(request.app[RUNTIME].context)
    outbox: dict[tuple[tuple[str, str], ...], int] = {
        (("status", status),): count for status, count in counts.items()
    }
    text = request.app[METRICS].render({"cloudmarket_outbox_transactions": outbox})
    return web.Response(text=text, content_type="text/plain")
