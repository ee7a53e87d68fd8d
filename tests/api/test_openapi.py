"""The OpenAPI document and the aiohttp router list exactly the same routes."""

from __future__ import annotations

from aiohttp import web

from api.app import create_app
from api.openapi import RouteTable, build_document
from tests.api.test_errors import test_routes


def _router_routes(app: web.Application) -> set[tuple[str, str]]:
    out = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        out.add((route.method.lower(), path))
    return out


def _doc_routes(doc: dict) -> set[tuple[str, str]]:
    return {(method, path) for path, ops in doc["paths"].items() for method in ops}


async def test_served_document_matches_router(client):
    resp = await client.get("/openapi.json")
    assert resp.status == 200
    doc = await resp.json()
    assert doc["openapi"] == "3.1.0"
    assert _doc_routes(doc) == _router_routes(client.app)
    assert {
        ("get", p) for p in ("/healthz", "/readyz", "/api/chain", "/openapi.json", "/metrics")
    } <= _doc_routes(doc)
    assert "Error" in doc["components"]["schemas"]


async def test_routes_added_through_a_table_are_documented(eth_runtime):
    app = create_app(eth_runtime, extra_routes=[test_routes], background=False)
    from api.keys import ROUTE_SPECS

    doc = build_document(app[ROUTE_SPECS])
    assert _doc_routes(doc) == _router_routes(app)
    op = doc["paths"]["/test/missing/{id}"]["get"]
    assert op["parameters"] == [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]


def test_regex_path_parameters_are_normalised():
    table = RouteTable(tag="t")

    @table.post(
        "/x/{node_id:\\d+}/beat",
        summary="beat",
        request={"type": "object"},
        query={"wait": {"type": "integer"}},
        status=202,
    )
    async def beat(request: web.Request) -> web.Response:
        return web.Response()

    doc = build_document(table.specs)
    op = doc["paths"]["/x/{node_id}/beat"]["post"]
    assert [p["name"] for p in op["parameters"]] == ["node_id", "wait"]
    assert op["requestBody"]["content"]["application/json"]["schema"] == {"type": "object"}
    assert "202" in op["responses"]
