"""The request plumbing every route pays for, in ONE middleware (:func:`api_middleware`), outermost first:
request id, access log + metrics, JSON error envelope, CORS preflight (:mod:`api.cors`), declared body size
(:mod:`api.limits`). One frame per request instead of five; nothing per request that can be computed once.

- **Request id.** A sane incoming ``X-Request-ID`` (1-128 of ``[A-Za-z0-9._:-]``) is kept, else one is made
  (:class:`_RequestIds`); stored as ``request[REQUEST_ID]`` and echoed in the response header (also on a
  redirect raised as an ``HTTPException``).
- **Access log and metrics.** One JSON log line per request (method, path, route, status, duration_ms,
  request_id; the record is built only when ``api.access`` logs INFO) and one observation of
  :class:`api.metrics.Metrics`. Query strings and headers are not logged (they may carry tokens).
- **Errors.** :class:`api.errors.ApiError`, :class:`engine.errors.EngineError` (by its kind, through
  ``api.errors.STATUS_BY_KIND``), aiohttp ``HTTPException`` (404 from the router, 405 ...), JSON decode
  errors and any unexpected exception become the error envelope. A 500 carries code ``internal`` and the
  request id, never the exception text or a stack trace; the trace goes to the log with the request id.
  The access log and metrics see the status of the envelope.
- **CORS preflight** (:func:`api.cors.preflight_response`), answered before the body-size check.
- **Body size** (:func:`api.limits.check_declared_size`): 413 for a declared ``Content-Length`` above the
  app's limit, before authentication or any handler.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import uuid
from time import perf_counter

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from api.cors import CORS_POLICY, preflight_response
from api.errors import ApiError, code_for_status, engine_error_response, error_response
from api.keys import METRICS, REQUEST_ID
from api.limits import check_declared_size
from api.logging import log_fast
from engine.errors import EngineError, Kind

log = logging.getLogger("api.access")
errlog = logging.getLogger("api.errors")

REQUEST_ID_HEADER = "X-Request-ID"
_sane_id = re.compile(r"[A-Za-z0-9._:-]{1,128}").fullmatch
_INFO = logging.INFO


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


def _route_template(request: web.Request) -> str:
    info = request.match_info
    resource = info.route.resource if info.http_exception is None else None
    return "unmatched" if resource is None else resource.canonical


def _http_error(exc: web.HTTPException) -> web.Response:
    """The envelope for an aiohttp ``HTTPException`` of status 400 or more."""
    details: dict[str, object] = {}
    headers: dict[str, str] = {}
    if isinstance(exc, web.HTTPMethodNotAllowed):
        details["allowed_methods"] = sorted(exc.allowed_methods)
        headers["Allow"] = ",".join(sorted(exc.allowed_methods))
    message = exc.reason
    if exc.text and not exc.text.startswith(f"{exc.status}:"):
        message = exc.text  # a handler's own explanation, e.g. HTTPBadRequest(text="...")
    return error_response(exc.status, code_for_status(exc.status), message, details, headers)


def _unhandled(request: web.Request, rid: str, what: str) -> None:
    errlog.exception(what, extra={"request_id": rid, "method": request.method, "path": request.path})


@web.middleware
async def api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """See the module docstring (the steps are in its order)."""
    start = perf_counter()
    incoming = request.headers.get(REQUEST_ID_HEADER)
    rid = incoming if incoming is not None and _sane_id(incoming) is not None else _ids.next()
    request[REQUEST_ID] = rid
    status = 500
    try:
        try:
            response = None
            if request.method == hdrs.METH_OPTIONS:
                policy = request.app.get(CORS_POLICY)
                if policy is not None and policy.enabled:
                    response = preflight_response(request, policy)
            if response is None:
                check_declared_size(request)
                response = await handler(request)
        except ApiError as exc:
            response = error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)
        except EngineError as exc:
            if exc.kind is Kind.INTERNAL:
                _unhandled(request, rid, "engine error")
            response = engine_error_response(exc)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            response = _http_error(exc)
        except json.JSONDecodeError as exc:
            response = error_response(
                400,
                "invalid_json",
                "request body is not valid JSON",
                {"line": exc.lineno, "column": exc.colno, "reason": exc.msg},
            )
        except Exception:
            _unhandled(request, rid, "unhandled error")
            response = error_response(500, "internal", "internal server error", {"request_id": rid})
        status = response.status
    except web.HTTPException as exc:  # only non-error HTTPExceptions (redirects) get this far
        status = exc.status
        exc.headers[REQUEST_ID_HEADER] = rid
        raise
    finally:
        seconds = perf_counter() - start
        route = _route_template(request)
        request.app[METRICS].observe(request.method, route, status, seconds * 1000)
        if log.isEnabledFor(_INFO):
            log_fast(
                log,
                _INFO,
                "request",
                {
                    "method": request.method,
                    "path": request.path,
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                    "request_id": rid,
                },
            )
    if not response.prepared:
        response.headers[REQUEST_ID_HEADER] = rid
    return response


MIDDLEWARES = (api_middleware,)
