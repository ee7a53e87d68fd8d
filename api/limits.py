"""Bounds on what a request body may cost us, applied before anything parses it.

* **Size.** ``CLOUDMARKET_MAX_BODY_BYTES`` (default 1 MiB) is the app's ``client_max_size``.
  :func:`check_declared_size` (called by :func:`api.middlewares.api_middleware` for every request) refuses
  a declared ``Content-Length`` above it with 413 before any handler runs; :func:`read_body` (and
  aiohttp's own ``request.read()``) stop a chunked body as soon as it grows past it. Both answer
  ``413 payload_too_large`` in the error envelope.
* **Nesting.** :func:`parse_json` counts bracket depth outside strings (:func:`nesting_depth_exceeds`, a
  C-speed strip of strings and non-brackets, then one pass over the brackets that stops at the limit) and
  refuses more than :data:`MAX_JSON_DEPTH` levels with ``400 too_deep`` *before* ``json.loads`` sees the
  text: CPython's JSON decoder recurses in C, and the schema validator recurses too.
* **Numbers.** ``NaN``/``Infinity`` and float literals that overflow to infinity are not JSON numbers we
  accept (400 ``invalid_json``); an integer literal longer than CPython's int-conversion limit is 400, not
  the ``ValueError`` ``json.loads`` raises.
* **The interpreter.** ``py_ecc`` raises ``sys.setrecursionlimit`` to 100,000 at import; with that limit a
  deep enough structure overflows the C stack (a segfault) instead of raising ``RecursionError``.
  :func:`restore_recursion_limit` puts back :data:`SANE_RECURSION_LIMIT` (py-evm's own need: 1024 EVM call
  frames); :func:`api.app.create_app` calls it, and again when the app starts.
"""

from __future__ import annotations

import json
import math
import re
import sys
from typing import Any

from aiohttp import web

from api.errors import ApiError, BadRequest

MAX_JSON_DEPTH = 64
# py-evm (eth-tester's EVM) sets this at import so that 1024 nested EVM calls fit; anything above it only
# lets C-level recursion (json, re, repr) run the 8 MiB main-thread stack out before Python notices.
SANE_RECURSION_LIMIT = 1024 * 12

# a JSON string (possibly unterminated: the rest of the text), so brackets inside strings do not count
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"

    def __init__(self, max_bytes: int, actual: int | None = None) -> None:
        details: dict[str, Any] = {"max_bytes": max_bytes}
        if actual is not None:
            details["content_length"] = actual
        super().__init__(f"request body is larger than {max_bytes} bytes", details=details)


class TooDeep(BadRequest):
    code = "too_deep"

    def __init__(self, max_depth: int) -> None:
        super().__init__(
            f"request body nests arrays/objects deeper than {max_depth} levels",
            details={"max_depth": max_depth},
        )


def restore_recursion_limit() -> int:
    """Lower the interpreter's recursion limit to :data:`SANE_RECURSION_LIMIT` if an import raised it.
    Returns the limit in force."""
    if sys.getrecursionlimit() > SANE_RECURSION_LIMIT:
        sys.setrecursionlimit(SANE_RECURSION_LIMIT)
    return sys.getrecursionlimit()


def nesting_depth_exceeds(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``text`` opens more than ``limit`` arrays/objects inside one another (strings skipped).

    Works on any text, valid JSON or not: an unbalanced ``[[[[`` counts as deep as it goes."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if len(brackets) <= limit:
        return False
    depth = 0
    for ch in brackets:
        if ch in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:32]} is out of range")
    return value


def parse_json(raw: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``raw`` (UTF-8) as a JSON value, refusing what :mod:`api.limits` bounds. 400 ``invalid_json`` or
    ``too_deep``."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("request body is not UTF-8", code="invalid_json") from exc
    if nesting_depth_exceeds(text, max_depth):
        raise TooDeep(max_depth)
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise BadRequest(
            "request body is not valid JSON",
            code="invalid_json",
            details={"line": exc.lineno, "column": exc.colno, "reason": exc.msg},
        ) from exc
    except (ValueError, RecursionError) as exc:  # NaN/Infinity, 1e999, a 5,000-digit integer
        raise BadRequest(
            "request body is not valid JSON", code="invalid_json", details={"reason": str(exc)[:120]}
        ) from exc


async def read_body(request: web.Request) -> bytes:
    """The whole body, at most ``request.client_max_size`` bytes (413 past it, checked while reading)."""
    check_declared_size(request)
    limit = request.client_max_size
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise PayloadTooLarge(limit) from exc


def check_declared_size(request: web.Request) -> None:
    """413 for a declared ``Content-Length`` above the app's ``client_max_size``."""
    limit = request.client_max_size
    if limit:
        declared = request.content_length
        if declared is not None and declared > limit:
            raise PayloadTooLarge(limit, declared)
