"""Middlewares, outermost first: request id, access log + metrics, JSON error envelope, CORS preflight
(:mod:`api.cors`), declared body size (:mod:`api.limits`).

- :func:`request_id_middleware` accepts a sane incoming ``X-Request-ID`` (1-128 of ``[A-Za-z0-9._:-]``),
  else makes one, stores it as ``request[REQUEST_ID]`` and echoes it in the response header.
- :func:`access_log_middleware` writes one JSON log line per request (method, path, route, status,
  duration_ms, request_id) and counts it in :class:`api.metrics.Metrics`. Query strings and headers are not
  logged (they may carry tokens).
- :func:`error_middleware` turns :class:`api.errors.ApiError`, :class:`engine.errors.EngineError` (by its
  kind, through ``api.errors.STATUS_BY_KIND``), aiohttp ``HTTPException`` (404 from the
  router, 405 ...), JSON decode errors and any unexpected exception into the error envelope. A 500 carries
  code ``internal`` and the request id, never the exception text or a stack trace; the trace goes to the
  log with the request id.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import time
import uuid

from aiohttp import web
from aiohttp.typedefs import Handler

from api.cors import cors_preflight_middleware
from api.errors import ApiError, code_for_status, engine_error_response, error_response
from api.keys import METRICS, REQUEST_ID
from api.limits import body_size_middleware
from api.logging import log_fast
from engine.errors import EngineError, Kind

log = logging.getLogger("api.access")
errlog = logging.getLogger("api.errors")

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class _RequestIds:
    """Unique request ids without a system call each: 16 random hex digits per process (drawn again in
    a forked child) followed by a 16-digit counter."""

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self.prefix = uuid.uuid4().hex[:16]
        self.counter = itertools.count(1)

    def next(self) -> str:
        return f"{self.prefix}{next(self.counter):016x}"


_ids = _RequestIds()


def _request_id(request: web.Request) -> str:
    incoming = request.headers.get(REQUEST_ID_HEADER)
    if incoming is not None and _SANE_ID.fullmatch(incoming):
        return incoming
    return _ids.next()


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    rid = _request_id(request)
    request[REQUEST_ID] = rid
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # only non-error HTTPExceptions (redirects) get this far
        exc.headers[REQUEST_ID_HEADER] = rid
        raise
    if not response.prepared:
        response.headers[REQUEST_ID_HEADER] = rid
    return response


def _route_template(request: web.Request) -> str:
    info = request.match_info
    resource = info.route.resource if info.http_exception is None else None
    if resource is None:
        return "unmatched"
    return resource.canonical


@web.middleware
async def access_log_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    start = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        duration_ms = (time.perf_counter() - start) * 1000
        route = _route_template(request)
        request.app[METRICS].observe(request.method, route, status, duration_ms)
        log_fast(
            log,
            logging.INFO,
            "request",
            {
                "method": request.method,
                "path": request.path,
                "route": route,
                "status": status,
                "duration_ms": round(duration_ms, 3),
                "request_id": request.get(REQUEST_ID),
            },
        )


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)
    except EngineError as exc:
        if exc.kind is Kind.INTERNAL:
            errlog.exception(
                "engine error",
                extra={"request_id": request.get(REQUEST_ID), "method": request.method, "path": request.path},
            )
        return engine_error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        details: dict[str, object] = {}
        headers: dict[str, str] = {}
        if isinstance(exc, web.HTTPMethodNotAllowed):
            details["allowed_methods"] = sorted(exc.allowed_methods)
            headers["Allow"] = ",".join(sorted(exc.allowed_methods))
        message = exc.reason
        if exc.text and not exc.text.startswith(f"{exc.status}:"):
            message = exc.text  # a handler's own explanation, e.g. HTTPBadRequest(text="...")
        return error_response(exc.status, code_for_status(exc.status), message, details, headers)
    except json.JSONDecodeError as exc:
        return error_response(
            400,
            "invalid_json",
            "request body is not valid JSON",
            {"line": exc.lineno, "column": exc.colno, "reason": exc.msg},
        )
    except Exception:
        rid = request.get(REQUEST_ID)
        errlog.exception(
            "unhandled error", extra={"request_id": rid, "method": request.method, "path": request.path}
        )
        return error_response(500, "internal", "internal server error", {"request_id": rid})


MIDDLEWARES = (
    request_id_middleware,
    access_log_middleware,
    error_middleware,
    cors_preflight_middleware,
    body_size_middleware,
)
