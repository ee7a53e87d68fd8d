"""HTTP-facing errors: every error response is ``{"error": {"code", "message", "details"}}``.

::

    ApiError                    (.status, .code, .message, .details)
    ├── BadRequest              400 bad_request / invalid_json
    ├── NotFound                404 not_found
    └── Unavailable             503 unavailable

Engine and billing errors are not translated per route: every :class:`engine.errors.EngineError` (billing's
root derives from it) carries a ``code`` and a :class:`~engine.errors.Kind`, and :data:`STATUS_BY_KIND` is
the one table that turns a kind into an HTTP status (:func:`engine_error_response`). Handlers raise
``ApiError`` only for HTTP-level problems (a malformed path id, a bad header); :mod:`api.middlewares` turns
all of them into the envelope. :func:`read_json` is the one way handlers parse a JSON body.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from engine.errors import EngineError, Kind

# Machine-readable codes for plain aiohttp HTTP exceptions (404 from the router, 405, 413 ...).
STATUS_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    402: "payment_required",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "too_many_requests",
    500: "internal",
    502: "bad_gateway",
    503: "unavailable",
}


class ApiError(Exception):
    status: int = 400
    code: str = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.details: dict[str, Any] = dict(details or {})
        self.headers: dict[str, str] = dict(headers or {})  # sent with the error (e.g. Retry-After)


class BadRequest(ApiError):
    status = 400
    code = "bad_request"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Unavailable(ApiError):
    status = 503
    code = "unavailable"


# The one map from an engine error's kind to an HTTP status.
STATUS_BY_KIND: dict[Kind, int] = {
    Kind.INVALID: 400,
    Kind.UNAUTHORIZED: 401,
    Kind.FORBIDDEN: 403,
    Kind.NOT_FOUND: 404,
    Kind.CONFLICT: 409,
    Kind.PAYMENT_REQUIRED: 402,
    Kind.UNPROCESSABLE: 422,
    Kind.RATE_LIMITED: 429,
    Kind.BAD_GATEWAY: 502,
    Kind.UNAVAILABLE: 503,
    Kind.INTERNAL: 500,
}


def status_for(exc: EngineError) -> int:
    return STATUS_BY_KIND.get(exc.kind, 500)


def engine_error_response(exc: EngineError) -> web.Response:
    """The envelope for an engine (or billing) error. Internal errors never show their message."""
    status = status_for(exc)
    if status >= 500 and exc.kind is Kind.INTERNAL:
        return error_response(status, "internal", "internal server error")
    return error_response(status, exc.code, exc.message, exc.details)


def code_for_status(status: int) -> str:
    return STATUS_CODES.get(status, "internal" if status >= 500 else "error")


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": dict(details or {})}}


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    return web.json_response(error_body(code, message, details), status=status, headers=headers)


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object; 400 ``invalid_json`` if it is not one. Bounded like every body
    (:mod:`api.limits`: 413 past the size limit, 400 ``too_deep`` past the nesting limit)."""
    from api.limits import parse_json, read_body  # api.limits builds on this module's errors

    body = parse_json(await read_body(request))
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object", code="invalid_json")
    return body
