"""Route registry and the OpenAPI 3.1 document built from it.

Every HTTP route is declared once, in a :class:`RouteTable`, with its method, path, summary and JSON
schemas; the table both adds the handler to the aiohttp router and records a :class:`RouteSpec` from
which ``GET /openapi.json`` is built. A route that bypasses the table would be missing from the document,
and ``tests/api/test_openapi.py`` fails on that.

How to add a route
------------------

1. In your module under ``api/routes/`` make one table and decorate handlers::

       from api.openapi import RouteTable

       routes = RouteTable(tag="wallet")

       @routes.get("/api/wallet", summary="The caller's wallet",
                   response={"type": "object", "properties": {"address": {"type": "string"}}})
       async def get_wallet(request: web.Request) -> web.Response: ...

       @routes.post("/api/wallet/swap", summary="Swap tokens", request=SWAP_SCHEMA, response=SWAP_RESULT,
                    status=202)
       async def swap(request: web.Request) -> web.Response: ...

2. Append ``routes`` to :data:`api.routes.ROUTE_TABLES`. :func:`api.app.create_app` installs every table.

Request bodies (``request=``) and query parameters (``query=``) are validated against their schemas
before the handler runs (:mod:`api.validation`); the handler reads the parsed body with
``validated_body(request)`` and the converted query with ``validated_query(request)``. Give object schemas
``"additionalProperties": False`` unless extra keys are meant to be accepted.

Path parameters use aiohttp syntax (``/api/x/{id}`` or ``/api/x/{id:\\d+}``); they are listed as OpenAPI
path parameters automatically. Query parameters can be declared with ``query={"wait": {"type": "integer"}}``.
Error responses all share the ``Error`` schema and need not be declared. A success response that comes in
more than one media type (JSON, or CSV with ``?format=csv``) lists the others with
``alt_content={"text/csv": {"type": "string"}}``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from api.validation import RequestValidator, validating_handler

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Schema = dict[str, Any]

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::[^}]*)?\}")
_PARAM_WITH_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")

ERROR_SCHEMA: Schema = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "object"},
            },
        }
    },
}


@dataclass(frozen=True)
class RouteSpec:
    method: str
    path: str  # aiohttp syntax, may hold regex parameters
    handler: Handler = field(repr=False)
    summary: str
    tag: str
    request: Schema | None = None
    response: Schema | None = None
    status: int = 200
    content_type: str = "application/json"
    query: dict[str, Schema] = field(default_factory=dict)
    # further media types of the success response beside ``content_type`` (e.g. ``{"text/csv": ...}``)
    alt_content: dict[str, Schema] = field(default_factory=dict)

    @property
    def openapi_path(self) -> str:
        """``/x/{id:\\d+}`` -> ``/x/{id}``."""
        return _PARAM.sub(lambda m: "{" + m.group(1) + "}", self.path)

    @property
    def path_params(self) -> list[str]:
        return [m.group(1) for m in _PARAM.finditer(self.path)]

    @property
    def path_param_schemas(self) -> dict[str, Schema]:
        """Each path parameter's schema: a string, constrained by the aiohttp regex when one is given."""
        out: dict[str, Schema] = {}
        for m in _PARAM_WITH_RE.finditer(self.path):
            schema: Schema = {"type": "string"}
            if m.group(2):
                schema["pattern"] = f"^(?:{m.group(2)})$"
            out[m.group(1)] = schema
        return out


class RouteTable:
    """A module's routes: decorators record specs; :meth:`install` adds them to an app."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.specs: list[RouteSpec] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        request: Schema | None = None,
        response: Schema | None = None,
        status: int = 200,
        content_type: str = "application/json",
        query: dict[str, Schema] | None = None,
        alt_content: dict[str, Schema] | None = None,
    ) -> Callable[[Handler], Handler]:
        def decorate(handler: Handler) -> Handler:
            self.specs.append(
                RouteSpec(
                    method=method.upper(),
                    path=path,
                    handler=handler,
                    summary=summary,
                    tag=self.tag,
                    request=request,
                    response=response,
                    status=status,
                    content_type=content_type,
                    query=dict(query or {}),
                    alt_content=dict(alt_content or {}),
                )
            )
            return handler

        return decorate

    def get(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, **kw)

    def install(self, app: web.Application, registry: list[RouteSpec]) -> None:
        """Add each route, its handler preceded by request validation (schemas compiled here, once)."""
        for spec in self.specs:
            validator = RequestValidator.build(spec.request, spec.query)
            app.router.add_route(spec.method, spec.path, validating_handler(spec.handler, validator))
            registry.append(spec)


def _operation(spec: RouteSpec) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": spec.summary,
        "operationId": f"{spec.method.lower()}_{spec.handler.__name__}",
        "tags": [spec.tag],
    }
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": schema}
        for name, schema in spec.path_param_schemas.items()
    ]
    params += [
        {"name": name, "in": "query", "required": False, "schema": schema}
        for name, schema in spec.query.items()
    ]
    if params:
        op["parameters"] = params
    if spec.request is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": spec.request}}}
    ok: dict[str, Any] = {"description": "OK"}
    if spec.response is not None:
        ok["content"] = {spec.content_type: {"schema": spec.response}}
    if spec.alt_content:
        ok["content"] = ok.get("content", {}) | {ct: {"schema": s} for ct, s in spec.alt_content.items()}
    error_ref = {"$ref": "#/components/schemas/Error"}
    error = {"description": "Error", "content": {"application/json": {"schema": error_ref}}}
    op["responses"] = {str(spec.status): ok, "default": error}
    return op


def build_document(
    specs: Iterable[RouteSpec], *, title: str = "cloudmarket", version: str = "0.1.0"
) -> dict[str, Any]:
    """The OpenAPI 3.1 document for ``specs``."""
    paths: dict[str, dict[str, Any]] = {}
    for spec in sorted(specs, key=lambda s: (s.openapi_path, s.method)):
        paths.setdefault(spec.openapi_path, {})[spec.method.lower()] = _operation(spec)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR_SCHEMA},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        # optional: public routes need none; guarded routes answer 401/403 (Error) without it
        "security": [{}, {"bearer": []}],
    }
