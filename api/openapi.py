"""Route registry and the OpenAPI 3.1 document built from it.

Every HTTP route is declared once, in a :class:`RouteTable`, with its method, path, summary and JSON
schemas; the table both adds the handler to the aiohttp router and records a :class:`RouteSpec` from
which ``GET /openapi.json`` is built. A route that bypasses the table would be missing from the document,
and ``tests/api/test_openapi.py`` fails on that.

How to add a route
------------------

1. In your module under ``api/routes/`` make one table and decorate handlers::

       from api.auth.principal import CLOUD_USER
       from api.openapi import RouteTable

       routes = RouteTable(tag="wallet", roles=(CLOUD_USER,))   # who may call, unless a route says

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

Routes are **protected by default**: the caller must send valid credentials, checked before the body is
read, so an anonymous caller gets 401 and never reaches the parsers; then the declared ``roles=`` (below)
answer 403 to the wrong caller, and the handler's ``require_role`` / ``require_node`` (ownership of a node)
still run. The few public routes say ``public=True``.
``rate_limit="public"`` (per client IP) or ``rate_limit="expensive"`` (per caller) puts a route behind
:mod:`api.ratelimit` (429 with ``Retry-After``).

Path parameters use aiohttp syntax (``/api/x/{name}``; numeric ids ``f"/api/x/{id_segment('x_id')}"`` with
:func:`api.validation.id_segment`, ASCII digits only); they are listed as OpenAPI path parameters
automatically. Query parameters can be declared with ``query={"wait": {"type": "integer"}}``.
Error responses all share the ``Error`` schema (``{"error": {"code", "message", "details"}}``) and are
derived from the declaration: 400 for a body or query, 413/415 for a body, 401/403/503 for a protected
route, 404 for path parameters, 409 for a protected route that changes state, 429 for a rate-limited one;
anything else the route can answer is added with ``errors=(422,)`` (on the route, or for a whole table);
``default`` covers the rest. A success response that comes in more than one media type (JSON, or CSV with
``?format=csv``) lists the others with ``alt_content={"text/csv": {"type": "string"}}``.

Who may call: ``roles=(CLOUD_USER,)`` (any one of them), ``roles=SIGNED_IN`` (any signed-in user) or
``roles=NODE_ONLY`` (a node token), on the route or as the table's default (``RouteTable(tag=...,
roles=...)``), see :mod:`api.access`. The wrapper enforces it (403 before the body is read) and the document
shows it as the security requirement (``{"bearer": [role]}`` per admitted role, ``{"nodeToken": []}``) and
as ``x-roles``. Every protected route of the service declares its roles (``tests/api/test_openapi.py``).

Operation ids are ``<module>_<handler>`` (``deployments_create``), or ``operation_id=``; they must be unique
(:meth:`RouteTable.install` refuses a duplicate). A schema wrapped in :func:`named` becomes a component
(``#/components/schemas/<Name>``) wherever it is used, so code generators make one type of it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from aiohttp import web

from api.access import NODE_AGENT, NODE_ONLY, Roles, normalise_roles
from api.validation import RequestValidator, guarded_handler

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Schema = dict[str, Any]

# ``{name}`` or ``{name:regex}``; the regex may hold one level of braces (``[0-9]{1,18}``, api.validation)
_PARAM_WITH_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::((?:[^{}]|\{[^{}]*\})*))?\}")
_PARAM = _PARAM_WITH_RE

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


def _default_op_id(handler: Handler) -> str:
    """``<module>_<handler>``: ``deployments_create``, ``operator_get_settings``."""
    return f"{handler.__module__.rsplit('.', 1)[-1]}_{handler.__name__}"


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
    public: bool = False  # no credentials needed (else 401 before validation)
    rate_limit: str | None = None  # "public" (per client IP) | "expensive" (per caller) | None
    roles: Roles | None = None  # who may call (api.access); None: any credentials (undeclared)
    operation_id: str | None = None  # None: "<module>_<handler>"
    errors: tuple[int, ...] = ()  # error statuses beside the derived ones (see the module docstring)

    @property
    def op_id(self) -> str:
        return self.operation_id if self.operation_id is not None else _default_op_id(self.handler)

    @property
    def error_statuses(self) -> list[int]:
        """The error statuses the route can answer (sorted); see the module docstring."""
        out = set(self.errors)
        if self.request is not None:
            out |= {400, 413, 415}
        if self.query:
            out.add(400)
        if self.path_params:
            out.add(404)
        if not self.public:
            out |= {401, 403, 503}
            if self.method != "GET":
                out.add(409)
        if self.rate_limit is not None:
            out.add(429)
        return sorted(out)

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

    def __init__(
        self,
        tag: str,
        *,
        public: bool = False,
        roles: Sequence[str] | None = None,
        errors: Sequence[int] = (),
    ) -> None:
        self.tag = tag
        self.public = public  # the default of this table's routes (test tables of open routes)
        self.roles = normalise_roles(roles)  # the default of this table's protected routes
        self.errors = tuple(errors)  # added to every route's error statuses
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
        public: bool | None = None,
        rate_limit: str | None = None,
        roles: Sequence[str] | None = None,
        operation_id: str | None = None,
        errors: Sequence[int] = (),
    ) -> Callable[[Handler], Handler]:
        is_public = self.public if public is None else public
        declared = normalise_roles(roles)
        if is_public and declared is not None:
            raise ValueError(f"{method} {path}: a public route takes no roles")
        route_roles = None if is_public else (declared if declared is not None else self.roles)
        bad = [s for s in (*self.errors, *errors) if not 400 <= s <= 599]
        if bad:
            raise ValueError(f"{method} {path}: errors must be 4xx/5xx statuses, not {bad!r}")

        def decorate(handler: Handler) -> Handler:
            op_id = operation_id
            # one handler serving several routes (a DELETE and a POST alias): the default ids get the method
            shared = [i for i, s in enumerate(self.specs) if s.handler is handler]
            if shared and op_id is None:
                for i in shared:
                    other = self.specs[i]
                    if other.operation_id is None:
                        self.specs[i] = replace(other, operation_id=f"{other.op_id}_{other.method.lower()}")
                op_id = f"{_default_op_id(handler)}_{method.lower()}"
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
                    public=is_public,
                    rate_limit=rate_limit,
                    roles=route_roles,
                    operation_id=op_id,
                    errors=tuple(sorted({*self.errors, *errors})),
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
        """Add each route, its handler preceded by rate limiting, authentication (unless public) and request
        validation (schemas compiled here, once). A duplicate operation id is a ``ValueError``."""
        for spec in self.specs:
            taken = {s.op_id for s in registry}
            if spec.op_id in taken:
                raise ValueError(f"{spec.method} {spec.path}: operation id {spec.op_id!r} is already used")
            validator = RequestValidator.build(spec.request, spec.query)
            handler = guarded_handler(
                spec.handler, validator, public=spec.public, rate_limit=spec.rate_limit, roles=spec.roles
            )
            app.router.add_route(spec.method, spec.path, handler)
            registry.append(spec)


# the description of each error status in ``components/responses`` (all with the Error schema)
ERROR_RESPONSES: dict[int, tuple[str, str]] = {
    400: (
        "BadRequest",
        "Malformed JSON, a body or query not matching its schema, or a value the engine refuses",
    ),
    401: ("Unauthorized", "No credentials, or credentials that are not valid"),
    402: ("PaymentRequired", "The payment could not be taken"),
    403: ("Forbidden", "The caller lacks the role, or the token kind (user / node) is wrong for the route"),
    404: ("NotFound", "No such object, or not the caller's"),
    409: ("Conflict", "The object is not in a state that allows this"),
    413: ("PayloadTooLarge", "The body is larger than CLOUDMARKET_MAX_BODY_BYTES"),
    415: ("UnsupportedMediaType", "The body is not application/json"),
    422: ("Unprocessable", "Well-formed, but cannot be carried out (e.g. the price cap is below the floor)"),
    429: ("TooManyRequests", "Rate limited; retry after Retry-After seconds"),
    502: ("BadGateway", "An upstream service (payments provider, chain) failed"),
    503: ("Unavailable", "A dependency (database, chain, identity provider, billing) is unavailable"),
}
_COMPONENT = "x-component"


def named(name: str, schema: Schema) -> Schema:
    """``schema`` marked as the component ``name``: :func:`build_document` puts it once under
    ``#/components/schemas/<name>`` and refers to it wherever it is used. Validation is unaffected (the marker
    is an unknown keyword to JSON Schema)."""
    if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
        raise ValueError(f"component name {name!r} is not a valid OpenAPI component key")
    return {**schema, _COMPONENT: name}


class _Components:
    """Hoists :func:`named` schemas out of operations into ``components/schemas``."""

    def __init__(self) -> None:
        self.schemas: dict[str, Schema] = {}

    def hoist(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.hoist(item) for item in node]
        if not isinstance(node, dict):
            return node
        name = node.get(_COMPONENT)
        body = {
            k: (v if k in ("enum", "const") else self.hoist(v)) for k, v in node.items() if k != _COMPONENT
        }
        if not isinstance(name, str):
            return body
        known = self.schemas.setdefault(name, body)
        if known != body:
            raise ValueError(f"two different schemas are named {name!r}")
        return {"$ref": f"#/components/schemas/{name}"}


def _security(spec: RouteSpec) -> tuple[list[dict[str, list[str]]], list[str] | None]:
    """The operation's security requirements and its ``x-roles`` (``None``: public, no extension)."""
    if spec.public:
        return [], None
    if spec.roles == NODE_ONLY:
        return [{"nodeToken": []}], [NODE_AGENT]
    if not spec.roles:  # SIGNED_IN, or undeclared (any credentials)
        return [{"bearer": []}], []
    return [{"bearer": [role]} for role in spec.roles], list(spec.roles)


def _operation(spec: RouteSpec, components: _Components) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": spec.summary,
        "operationId": spec.op_id,
        "tags": [spec.tag],
    }
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": schema}
        for name, schema in spec.path_param_schemas.items()
    ]
    params += [
        {"name": name, "in": "query", "required": False, "schema": components.hoist(schema)}
        for name, schema in spec.query.items()
    ]
    if params:
        op["parameters"] = params
    if spec.request is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": components.hoist(spec.request)}},
        }
    ok: dict[str, Any] = {"description": "OK"}
    if spec.response is not None:
        ok["content"] = {spec.content_type: {"schema": components.hoist(spec.response)}}
    if spec.alt_content:
        ok["content"] = ok.get("content", {}) | {
            ct: {"schema": components.hoist(s)} for ct, s in spec.alt_content.items()
        }
    responses: dict[str, Any] = {str(spec.status): ok}
    for status in spec.error_statuses:
        responses[str(status)] = {"$ref": f"#/components/responses/{_error_response_name(status)}"}
    responses["default"] = {"$ref": "#/components/responses/Error"}
    op["responses"] = responses
    op["security"], roles = _security(spec)
    if roles is not None:
        op["x-roles"] = roles
    return op


def _error_response_name(status: int) -> str:
    return ERROR_RESPONSES[status][0] if status in ERROR_RESPONSES else f"Error{status}"


def _error_responses(statuses: Iterable[int]) -> dict[str, Any]:
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    out: dict[str, Any] = {"Error": {"description": "Error", "content": error}}
    for status in sorted(set(statuses)):
        description = ERROR_RESPONSES.get(status, ("", f"HTTP {status}"))[1]
        response: dict[str, Any] = {"description": description, "content": error}
        if status == 429:
            response["headers"] = {
                "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer", "minimum": 1}}
            }
        out[_error_response_name(status)] = response
    return out


def build_document(
    specs: Iterable[RouteSpec], *, title: str = "cloudmarket", version: str = "0.1.0"
) -> dict[str, Any]:
    """The OpenAPI 3.1 document for ``specs``."""
    components = _Components()
    paths: dict[str, dict[str, Any]] = {}
    statuses: set[int] = set()
    for spec in sorted(specs, key=lambda s: (s.openapi_path, s.method)):
        paths.setdefault(spec.openapi_path, {})[spec.method.lower()] = _operation(spec, components)
        statuses.update(spec.error_statuses)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR_SCHEMA, **dict(sorted(components.schemas.items()))},
            "responses": _error_responses(statuses),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A user's token (identity provider, dev issuer or SIWE session); the "
                    "scopes of a requirement are the roles (any one suffices, see x-roles)",
                },
                "nodeToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A node agent's token (issued to its provider), for node-agent routes",
                },
            },
        },
        # optional: public routes need none; guarded routes answer 401/403 (Error) without it
        "security": [{}, {"bearer": []}],
    }
