"""About the service itself: ``GET /openapi.json`` (built from the route registry) and ``GET /metrics``."""

from __future__ import annotations

from aiohttp import web

from api.keys import METRICS, ROUTE_SPECS, RUNTIME
from api.metrics import CONTENT_TYPE_LATEST
from api.openapi import RouteSpec, RouteTable, build_document
from engine.meta.commands import service_gauges

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
    summary="Prometheus metrics: request latency per route, outbox, sender, indexer, scheduler, held streams",
    content_type="text/plain",
    response={"type": "string"},
)
async def metrics(request: web.Request) -> web.Response:
    gauges = await service_gauges(request.app[RUNTIME].context)
    body = request.app[METRICS].render(gauges)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
