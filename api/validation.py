"""Request validation from a route's declared schemas, before its handler runs.

:meth:`api.openapi.RouteTable.install` wraps every handler with :func:`validating_handler`. Schemas are
compiled once, when the table is installed (JSON Schema 2020-12, the dialect of OpenAPI 3.1, with
``jsonschema_rs``); a malformed schema fails at start-up, not on the first request.

For a route declared with ``request=SCHEMA``:

* the ``Content-Type`` must be ``application/json`` (``+json`` suffixes accepted), else 415
  ``unsupported_media_type``;
* the body must be JSON (400 ``invalid_json``, with line/column) and valid against the schema, else 400
  ``invalid_request`` with ``details.errors = [{"path": "/a/0", "message": ...}, ...]`` (JSON Pointer
  paths, at most :data:`MAX_ERRORS`);
* the parsed body is stored as ``request[VALIDATED_BODY]`` (read it with :func:`validated_body`).

For a route declared with ``query={"name": SCHEMA}``: each present parameter is converted by its schema's
``type`` (``integer``, ``number``, ``boolean``; else kept as a string), a repeated parameter is 400, then
validated; the converted values (absent parameters left out) are ``request[VALIDATED_QUERY]``
(:func:`validated_query`). Undeclared query parameters are ignored.

Validation runs before the handler, so before its auth guard: an anonymous caller sending an invalid body
gets 400, the same answer any caller gets, which reveals nothing beyond the published schema.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema_rs
from aiohttp import web

from api.errors import ApiError, BadRequest

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
    """400 ``invalid_request``; ``details["errors"]`` lists ``{"path", "message"}`` per violation."""

    code = "invalid_request"

    def __init__(self, message: str, errors: list[dict[str, str]]) -> None:
        super().__init__(message, details={"errors": errors})
        self.errors = errors


def compile_schema(schema: Schema) -> jsonschema_rs.Draft202012Validator:
    """A 2020-12 validator for ``schema``; raises ``jsonschema_rs.ValidationError`` if it is not a schema."""
    jsonschema_rs.meta.validate(schema)
    return jsonschema_rs.Draft202012Validator(schema)


def _pointer(parts: list[str | int]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def schema_errors(
    validator: jsonschema_rs.Draft202012Validator, instance: Any, prefix: str = ""
) -> list[dict[str, str]]:
    """Each violation as ``{"path": JSON Pointer (under ``prefix``), "message"}``, at most MAX_ERRORS."""
    out: list[dict[str, str]] = []
    for err in validator.iter_errors(instance):
        out.append({"path": prefix + _pointer(list(err.instance_path)), "message": err.message})
        if len(out) >= MAX_ERRORS:
            break
    return out


def _is_json(content_type: str) -> bool:
    return content_type in _JSON_TYPES or (
        content_type.startswith("application/") and content_type.endswith("+json")
    )


async def parse_json_body(request: web.Request) -> Any:
    """The body parsed as JSON (any JSON value). 415 for a non-JSON content type, 400 for bad JSON."""
    if not _is_json(request.content_type):
        raise UnsupportedMediaType(
            "request body must be application/json", details={"content_type": request.content_type}
        )
    raw = await request.read()
    try:
        return json.loads(raw)
    except UnicodeDecodeError as exc:
        raise BadRequest("request body is not UTF-8", code="invalid_json") from exc
    except json.JSONDecodeError as exc:
        raise BadRequest(
            "request body is not valid JSON",
            code="invalid_json",
            details={"line": exc.lineno, "column": exc.colno, "reason": exc.msg},
        ) from exc


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
            [{"path": f"query/{name}", "message": f"{raw[:64]!r} is not a {kind}"}],
        ) from exc
    if kind == "boolean":
        if raw not in ("true", "false"):
            raise InvalidRequest(
                f"query parameter {name!r} must be true or false",
                [{"path": f"query/{name}", "message": f"{raw[:64]!r} is not true or false"}],
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
                    [{"path": f"query/{name}", "message": "repeated"}],
                )
            value = _convert(name, values[0], schema)
            errors += schema_errors(validator, value, prefix=f"query/{name}")
            out[name] = value
        if errors:
            raise InvalidRequest("query parameters do not match the schema", errors[:MAX_ERRORS])
        return out


def validating_handler(handler: Handler, validator: RequestValidator) -> Handler:
    """``handler`` preceded by ``validator`` (the original handler when nothing is declared)."""
    if validator.body is None and not validator.query:
        return handler

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        await validator.validate(request)
        return await handler(request)

    return wrapped


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
