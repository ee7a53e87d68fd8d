"""The OpenAPI document and the aiohttp router list exactly the same routes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from openapi_spec_validator import OpenAPIV31SpecValidator

from api.access import NODE_AGENT, NODE_ONLY, SIGNED_IN
from api.app import create_app
from api.auth.devissuer import DevIssuer
from api.auth.principal import CLOUD_OPERATOR, CLOUD_USER
from api.openapi import RouteSpec, RouteTable, build_document, named
from api.routes import devoidc, identity
from api.validation import compile_schema
from engine.runtime import Runtime
from tests.api.conftest import serve
from tests.api.role_matrix import ANONYMOUS, MATRIX, NODE, USER_ROLES, Row
from tests.api.test_errors import test_routes

JSON = {"Content-Type": "application/json"}


# The dev OpenID Connect routes speak OAuth (forms, HTML, redirects), not the API's JSON contract, and exist
# only in dev: deliberately outside the document (api/routes/devoidc.py). Nothing else may be.
_UNDOCUMENTED = {(method.lower(), path) for method, path, _ in devoidc.ROUTES} | {
    ("head", path) for method, path, _ in devoidc.ROUTES if method == "GET"
}


def _router_routes(app: web.Application) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        out.add((route.method.lower(), str(path)))
    return out - _UNDOCUMENTED


def _doc_routes(doc: dict[str, Any]) -> set[tuple[str, str]]:
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

    specs: list[RouteSpec] = app[ROUTE_SPECS]
    doc = build_document(specs)
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


# ---- code generators accept the document (issue 11, section 4) ----------------------------------------


def _service_document(eth_runtime: Runtime) -> dict[str, Any]:
    from api.keys import ROUTE_SPECS

    specs: list[RouteSpec] = create_app(eth_runtime, background=False)[ROUTE_SPECS]
    return build_document(specs)


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, ops in doc["paths"].items() for method, op in ops.items()]


async def test_the_served_document_passes_a_real_openapi_validator(client: Any) -> None:
    doc = await (await client.get("/openapi.json")).json()
    errors = [str(e).splitlines()[0] for e in OpenAPIV31SpecValidator(doc).iter_errors()]
    assert errors == []


def test_operation_ids_are_unique_over_the_whole_document(eth_runtime: Runtime) -> None:
    ids = [op["operationId"] for _, _, op in _operations(_service_document(eth_runtime))]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    # the ones that used to repeat (get_get_settings, put_put_settings, get_metrics)
    assert {"identity_get_settings", "operator_get_settings", "meta_metrics", "deployments_metrics"} <= set(
        ids
    )
    # one handler serving two routes gets one id per method
    assert {"payments_cancel_subscription_delete", "payments_cancel_subscription_post"} <= set(ids)


def test_a_duplicate_operation_id_is_refused_when_the_table_is_installed() -> None:
    table = RouteTable(tag="t", public=True)

    @table.get("/a", summary="a", operation_id="same")
    async def a(request: web.Request) -> web.Response:
        return web.Response()

    @table.get("/b", summary="b", operation_id="same")
    async def b(request: web.Request) -> web.Response:
        return web.Response()

    with pytest.raises(ValueError, match="operation id 'same'"):
        table.install(web.Application(), [])


def _expected_roles(row: Row) -> list[str] | None:
    """What the role matrix says a route admits, in x-roles terms (None: public)."""
    expect = row.expect
    if expect[ANONYMOUS] not in (401,):
        return None
    allowed = {c for c in (*USER_ROLES, NODE) if expect[c] not in (401, 403)}
    if allowed == {NODE}:
        return [NODE_AGENT]
    if allowed == set(USER_ROLES):
        return []
    return sorted(allowed)


def test_every_protected_route_declares_the_roles_the_role_matrix_expects(eth_runtime: Runtime) -> None:
    doc = _service_document(eth_runtime)
    checked = 0
    for method, path, op in _operations(doc):
        if op["security"] == []:
            assert "x-roles" not in op, (method, path)
            continue
        assert "x-roles" in op, f"{method} {path}: declare roles= on the route or its table"
        row = MATRIX.get((method, path))
        if row is not None:
            assert sorted(op["x-roles"]) == _expected_roles(row), (method, path)
            checked += 1
        roles = op["x-roles"]
        if roles == [NODE_AGENT]:
            assert op["security"] == [{"nodeToken": []}]
        elif roles:
            assert op["security"] == [{"bearer": [r]} for r in roles]
        else:
            assert op["security"] == [{"bearer": []}]
    assert checked >= 40
    ops = {(m, p): op for m, p, op in _operations(doc)}
    assert ops["POST", "/api/cloud-user/deployments"]["x-roles"] == ["cloud-user"]
    assert ops["GET", "/api/cloud-operator/plans"]["security"] == [{"bearer": ["cloud-operator"]}]
    assert ops["GET", "/api/cloud-provider/nodes/{node_id}/workloads"]["x-roles"] == ["node"]
    assert ops["GET", "/api/auth/session"]["x-roles"] == []
    assert "x-roles" not in ops["GET", "/healthz"]


def test_each_operation_lists_the_error_statuses_it_can_answer(eth_runtime: Runtime) -> None:
    doc = _service_document(eth_runtime)
    ops = {(m, p): op for m, p, op in _operations(doc)}

    def errors(method: str, path: str) -> set[str]:
        return {s for s in ops[method, path]["responses"] if s.startswith(("4", "5"))}

    create = ops["POST", "/api/cloud-user/deployments"]["responses"]
    assert errors("POST", "/api/cloud-user/deployments") == {
        "400", "401", "403", "409", "413", "415", "422", "429", "503"
    }  # fmt: skip
    assert create["429"] == {"$ref": "#/components/responses/TooManyRequests"}
    assert create["default"] == {"$ref": "#/components/responses/Error"}
    assert errors("GET", "/api/cloud-user/deployments/{deployment_id}") == {"401", "403", "404", "503"}
    assert errors("GET", "/healthz") == set()
    assert errors("POST", "/api/auth/siwe/nonce") == {"429"}
    responses = doc["components"]["responses"]
    for status_ref in {r["$ref"] for op in ops.values() for r in op["responses"].values() if "$ref" in r}:
        name = status_ref.rsplit("/", 1)[-1]
        schema = responses[name]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Error"}
    assert "Retry-After" in responses["TooManyRequests"]["headers"]


def test_named_schemas_become_components_and_validation_ignores_the_marker() -> None:
    lease = named("Thing", {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}})
    table = RouteTable(tag="t", public=True)

    @table.post("/things", summary="make", request={"type": "object", "properties": {"a": lease}},
                response={"type": "array", "items": lease})  # fmt: skip
    async def make(request: web.Request) -> web.Response:
        return web.Response()

    doc = build_document(table.specs)
    op = doc["paths"]["/things"]["post"]
    assert op["requestBody"]["content"]["application/json"]["schema"]["properties"]["a"] == {
        "$ref": "#/components/schemas/Thing"
    }
    assert doc["components"]["schemas"]["Thing"]["required"] == ["n"]
    assert "x-component" not in json.dumps(doc)
    assert OpenAPIV31SpecValidator(doc).is_valid()
    validator = compile_schema({"type": "object", "properties": {"a": lease}})
    assert validator.is_valid({"a": {"n": 1}}) and not validator.is_valid({"a": {}})
    with pytest.raises(ValueError, match="two different schemas"):
        build_document([*table.specs, *_one_route(named("Thing", {"type": "string"})).specs])


def _one_route(schema: dict[str, Any]) -> RouteTable:
    table = RouteTable(tag="t", public=True)

    @table.get("/other", summary="other", response=schema)
    async def other(request: web.Request) -> web.Response:
        return web.Response()

    return table


async def test_declared_roles_are_enforced_before_the_body_is_read(
    eth_runtime: Runtime, tmp_path: Path
) -> None:
    table = RouteTable(tag="t", roles=(CLOUD_OPERATOR,))

    @table.post("/t/op", summary="operators", request={"type": "object", "additionalProperties": False})
    async def op(request: web.Request) -> web.Response:
        return web.json_response({})

    @table.get("/t/anyone", summary="any user", roles=SIGNED_IN)
    async def anyone(request: web.Request) -> web.Response:
        return web.json_response({})

    @table.get("/t/node", summary="node agents", roles=NODE_ONLY)
    async def node(request: web.Request) -> web.Response:
        return web.json_response({})

    options = identity.IdentityOptions(env="dev", data_dir=tmp_path, chain_id=eth_runtime.chain.chain_id)
    app = create_app(eth_runtime, background=False, identity_options=options, extra_routes=[table])
    dev = DevIssuer(tmp_path)
    user = {"Authorization": f"Bearer {dev.mint([CLOUD_USER], sub='dev|roles-user')}"}
    operator = {"Authorization": f"Bearer {dev.mint([CLOUD_OPERATOR], sub='dev|roles-op')}"}
    async with serve(app) as client:
        resp = await client.post(
            "/t/op", data=b'{"bad": ', headers={**JSON, **user}
        )  # 403 before the body is parsed
        assert resp.status == 403
        assert (await resp.json())["error"]["details"] == {"required_any_of": [CLOUD_OPERATOR]}
        assert (await client.post("/t/op", data=b'{"bad": ', headers={**JSON, **operator})).status == 400
        assert (await client.post("/t/op", json={}, headers=operator)).status == 200
        assert (await client.get("/t/anyone", headers=user)).status == 200
        assert (await client.get("/t/node", headers=user)).status == 403
        assert (await client.get("/t/node")).status == 401


def test_role_declarations_are_checked() -> None:
    table = RouteTable(tag="t")
    with pytest.raises(ValueError, match="unknown roles"):
        table.get("/x", summary="x", roles=("admin",))
    with pytest.raises(ValueError, match="cannot be combined"):
        table.get("/x", summary="x", roles=(NODE_AGENT, CLOUD_USER))
    with pytest.raises(ValueError, match="public route takes no roles"):
        table.get("/x", summary="x", public=True, roles=(CLOUD_USER,))
    with pytest.raises(ValueError, match="not the string"):
        table.get("/x", summary="x", roles=CLOUD_USER)
