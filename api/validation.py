"""Request validation from a route's declared schemas, before its handler runs.

:meth:`api.openapi.RouteTable.install` wraps every handler with :func:`guarded_handler`. Schemas are
compiled once, when the table is installed (JSON Schema 2020-12, the dialect of OpenAPI 3.1, with
``jsonschema_rs``); a malformed schema fails at start-up, not on the first request.

For a route declared with ``request=SCHEMA``:

* the ``Content-Type`` must be ``application/json`` (``+json`` suffixes accepted), else 415
  ``unsupported_media_type``;
* the body must be JSON (400 ``invalid_json``, with line/column) and valid against the schema, else 400
  ``invalid_request`` with ``details.errors = [{"path": "/a/0", "code": "minimum", "message": ...}, ...]``
  (JSON Pointer paths, ``code`` the failing JSON Schema keyword, at most :data:`MAX_ERRORS`). The engine's
  spec errors (400 ``invalid_spec``) use the same item shape, with paths under ``/spec``;
* the parsed body is stored as ``request[VALIDATED_BODY]`` (read it with :func:`validated_body`).

For a route declared with ``query={"name": SCHEMA}``: each present parameter is converted by its schema's
``type`` (``integer``, ``number``, ``boolean``; else kept as a string), a repeated parameter is 400, then
validated; the converted values (absent parameters left out) are ``request[VALIDATED_QUERY]``
(:func:`validated_query`). Undeclared query parameters are ignored.

Order, before the handler (:func:`guarded_handler`):

1. a ``rate_limit="public"`` route takes a token from the client IP's bucket (429, :mod:`api.ratelimit`);
2. a route not declared ``public=True`` needs credentials: the caller is resolved once (any valid
   principal, user or node token) and cached on the request, so the handler's ``require_role`` /
   ``require_node`` does not decode the token again; no or bad credentials are 401 before the body is
   read, so an anonymous caller never exercises the parsers;
   a route declaring ``roles=`` then refuses a caller without one of them (403, :mod:`api.access`);
3. a ``rate_limit="expensive"`` route takes a token from the caller's bucket (429);
4. query and body are validated as above. The body is read within the size limit (413) and parsed by
   :func:`api.limits.parse_json` (nesting depth bounded before parsing: 400 ``too_deep``).

Integers: a schema's ``"type": "integer"`` accepts only JSON integer literals. JSON Schema counts ``1000.0``
as an integer; we do not (a money amount written as a float is a client bug, and the ABI encoder would
refuse it later): each integer subschema gets the :data:`JSON_INTEGER` keyword, checked by
:class:`_JsonInteger`, which refuses a Python ``float``.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema_rs
from aiohttp import web

from api.access import Roles, check_access
from api.auth.errors import Unauthorized
from api.auth.middleware import current_principal
from api.errors import ApiError, BadRequest
from api.limits import parse_json, read_body
from api.ratelimit import EXPENSIVE, PUBLIC, RATE_LIMITER

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Schema = dict[str, Any]

VALIDATED_BODY = web.RequestKey("validated_body", object)
VALIDATED_QUERY = web.RequestKey("validated_query", dict[str, Any])

MAX_ERRORS = 20
_JSON_TYPES = ("application/json",)


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"


class InvalidRequest(BadRequest):
    """400 ``invalid_request``; ``details["errors"]`` lists ``{"path", "code", "message"}`` per violation
    (:func:`schema_errors`; a query parameter's path is ``query/<name>``)."""

    code = "invalid_request"

    def __init__(self, message: str, errors: list[dict[str, str]]) -> None:
        super().__init__(message, details={"errors": errors})
        self.errors = errors


# the keyword added beside every ``"type": "integer"``: the instance must not be a float literal
JSON_INTEGER = "x-json-integer"


class _JsonInteger:
    """``x-json-integer``: refuse ``1000.0`` where the schema says integer (jsonschema accepts it)."""

    def __init__(self, parent_schema: Schema, value: Any, schema_path: list[str | int]) -> None:
        self.enabled = value is True

    def validate(self, instance: Any) -> None:
        # a float with a fraction already fails "type": only 1000.0-like values need refusing here
        if self.enabled and isinstance(instance, float) and instance.is_integer():
            raise ValueError(
                f"{instance!r} is not an integer (write integers without a fraction or exponent)"
            )


def _says_integer(schema: Mapping[str, Any]) -> bool:
    kind = schema.get("type")
    return kind == "integer" or (isinstance(kind, list) and "integer" in kind and "number" not in kind)


def _strict_integers(node: Any) -> Any:
    """A copy of a schema with :data:`JSON_INTEGER` beside every integer type."""
    if isinstance(node, list):
        return [_strict_integers(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {
        key: (value if key in ("enum", "const") else _strict_integers(value)) for key, value in node.items()
    }
    if _says_integer(node):
        out[JSON_INTEGER] = True
    return out


def compile_schema(schema: Schema) -> jsonschema_rs.Draft202012Validator:
    """A 2020-12 validator for ``schema``; raises ``jsonschema_rs.ValidationError`` if it is not a schema.
    Integer types accept only integer literals (:data:`JSON_INTEGER`)."""
    jsonschema_rs.meta.validate(schema)
    return jsonschema_rs.Draft202012Validator(_strict_integers(schema), keywords={JSON_INTEGER: _JsonInteger})


def _pointer(parts: list[str | int]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


MAX_MESSAGE_CHARS = 240


def _clip(message: str) -> str:
    """A message of at most about :data:`MAX_MESSAGE_CHARS`: its start and its end (``oneOf`` and ``anyOf``
    messages quote the whole instance first and say what is wrong last)."""
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    keep = MAX_MESSAGE_CHARS // 2
    return f"{message[: keep - 40]} … {message[-(keep + 40) :]}"


def _keyword(schema_path: list[str | int]) -> str:
    """The stable code of a violation: the JSON Schema keyword that failed (``type``, ``minimum``,
    ``required``, ``additionalProperties``, ``oneOf`` ...); :data:`JSON_INTEGER` reports as ``type``."""
    for part in reversed(schema_path):
        if isinstance(part, str):
            return "type" if part == JSON_INTEGER else part
    return "schema"


def schema_errors(
    validator: jsonschema_rs.Draft202012Validator, instance: Any, prefix: str = ""
) -> list[dict[str, str]]:
    """Each violation as ``{"path": JSON Pointer (under ``prefix``), "code": the failing keyword,
    "message"}``, at most MAX_ERRORS."""
    out: list[dict[str, str]] = []
    for err in validator.iter_errors(instance):
        out.append(
            {
                "path": prefix + _pointer(list(err.instance_path)),
                "code": _keyword(list(err.schema_path)),
                "message": _clip(err.message),
            }
        )
        if len(out) >= MAX_ERRORS:
            break
    return out


def _is_json(content_type: str) -> bool:
    return content_type in _JSON_TYPES or (
        content_type.startswith("application/") and content_type.endswith("+json")
    )


async def parse_json_body(request: web.Request) -> Any:
    """The body parsed as JSON (any JSON value). 415 for a non-JSON content type, 413 past the size limit,
    400 for bad or too deeply nested JSON."""
    if not _is_json(request.content_type):
        raise UnsupportedMediaType(
            "request body must be application/json", details={"content_type": request.content_type}
        )
    return parse_json(await read_body(request))


def _convert(name: str, raw: str, schema: Schema) -> Any:
    kind = schema.get("type")
    try:
        if kind == "integer":
            if len(raw) > 40:
                raise ValueError(raw)
            return int(raw, 10)
        if kind == "number":
            value = float(raw)
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError(raw)
            return value
    except ValueError as exc:
        raise InvalidRequest(
            f"query parameter {name!r} must be a {kind}",
            [{"path": f"query/{name}", "code": "type", "message": f"{raw[:64]!r} is not a {kind}"}],
        ) from exc
    if kind == "boolean":
        if raw not in ("true", "false"):
            raise InvalidRequest(
                f"query parameter {name!r} must be true or false",
                [{"path": f"query/{name}", "code": "type", "message": f"{raw[:64]!r} is not true or false"}],
            )
        return raw == "true"
    return raw


@dataclass(frozen=True)
class RequestValidator:
    """Compiled validators of one route."""

    body: jsonschema_rs.Draft202012Validator | None
    query: Mapping[str, tuple[Schema, jsonschema_rs.Draft202012Validator]]

    @classmethod
    def build(cls, request: Schema | None, query: Mapping[str, Schema]) -> RequestValidator:
        return cls(
            body=compile_schema(request) if request is not None else None,
            query={name: (schema, compile_schema(schema)) for name, schema in query.items()},
        )

    async def validate(self, request: web.Request) -> None:
        if self.query:
            request[VALIDATED_QUERY] = self._query(request)
        if self.body is not None:
            body = await parse_json_body(request)
            errors = schema_errors(self.body, body)
            if errors:
                raise InvalidRequest("request body does not match the schema", errors)
            request[VALIDATED_BODY] = body

    def _query(self, request: web.Request) -> dict[str, Any]:
        out: dict[str, Any] = {}
        errors: list[dict[str, str]] = []
        for name, (schema, validator) in self.query.items():
            values = request.query.getall(name, [])
            if not values:
                continue
            if len(values) > 1:
                raise InvalidRequest(
                    f"query parameter {name!r} given more than once",
                    [{"path": f"query/{name}", "code": "repeated", "message": "given more than once"}],
                )
            value = _convert(name, values[0], schema)
            errors += schema_errors(validator, value, prefix=f"query/{name}")
            out[name] = value
        if errors:
            raise InvalidRequest("query parameters do not match the schema", errors[:MAX_ERRORS])
        return out


def guarded_handler(
    handler: Handler,
    validator: RequestValidator,
    *,
    public: bool = False,
    rate_limit: str | None = None,
    roles: Roles | None = None,
) -> Handler:
    """``handler`` preceded by rate limiting, authentication (unless ``public``), the ``roles`` check
    (:func:`api.access.check_access`; ``None``: any credentials) and ``validator``, in the order the module
    docstring gives. The original handler when there is nothing to do."""
    if rate_limit not in (None, PUBLIC, EXPENSIVE):
        raise ValueError(f"unknown rate_limit {rate_limit!r}")
    if public and rate_limit == EXPENSIVE:
        raise ValueError("rate_limit='expensive' is per caller: the route cannot be public")
    if public and rate_limit is None and validator.body is None and not validator.query:
        return handler

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        limiter = request.app.get(RATE_LIMITER)
        if rate_limit == PUBLIC and limiter is not None:
            limiter.check_public(request)
        if not public:
            principal = await current_principal(request)
            if principal is None:
                raise Unauthorized("missing bearer token")
            if roles is not None:
                check_access(principal, roles)
            if rate_limit == EXPENSIVE and limiter is not None:
                who = f"node:{principal.node_id}" if principal.is_node else f"user:{principal.user_id}"
                limiter.check_caller(who)
        await validator.validate(request)
        return await handler(request)

    return wrapped


def validating_handler(handler: Handler, validator: RequestValidator) -> Handler:
    """``handler`` preceded by ``validator`` only (no authentication): a public route."""
    return guarded_handler(handler, validator, public=True)


def validated_body(request: web.Request) -> Any:
    """The body checked against the route's ``request`` schema (only on routes that declare one)."""
    if VALIDATED_BODY not in request:
        raise RuntimeError("this route declares no request schema; nothing was validated")
    return request[VALIDATED_BODY]


def validated_query(request: web.Request) -> dict[str, Any]:
    """The declared query parameters present in the request, converted and validated."""
    return request[VALIDATED_QUERY] if VALIDATED_QUERY in request else {}


# ---- path ids ------------------------------------------------------------------------------------
# Every numeric path id is ASCII digits, at most 18 of them (so int() never meets a
# Unicode digit or a 5,000-digit number). Routes declare ``{name:ID}`` via :func:`id_segment`.
ID_PATTERN = "[0-9]{1,18}"
MAX_PATH_ID = 2**31 - 1  # primary keys are INTEGER (int32 on PostgreSQL)


def id_segment(name: str) -> str:
    """The route path segment for a numeric id: ``{name:[0-9]{1,18}}``."""
    return "{" + name + ":" + ID_PATTERN + "}"


def path_id(request: web.Request, name: str) -> int:
    """The numeric path parameter ``name``; 404 ``not_found`` when it is not a sane id (aiohttp's router
    already refuses anything but 1..18 ASCII digits for routes declared with :func:`id_segment`)."""
    from api.errors import NotFound

    raw = request.match_info.get(name, "")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise NotFound(f"{name} not found", details={name: raw[:40]})
    value = int(raw)
    if value < 1 or value > MAX_PATH_ID:
        raise NotFound(f"{name} {value} not found", details={name: value})
    return value
