"""CORS for a browser frontend served from another origin (``CLOUDMARKET_CORS_ORIGINS``, comma-separated).

* A preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) from a listed origin to
  a path the router knows gets ``204`` with ``Access-Control-Allow-Origin`` (that origin),
  ``-Allow-Methods`` (the methods the path has), ``-Allow-Headers`` (:data:`ALLOW_HEADERS`) and
  ``-Max-Age``; from any other origin it gets ``403 cors_origin_not_allowed`` without those headers.
* Every other response to a request whose ``Origin`` is listed carries ``Access-Control-Allow-Origin`` and
  ``Access-Control-Expose-Headers`` (:data:`EXPOSE_HEADERS`); this is added in ``on_response_prepare`` so
  streamed responses (SSE) and error envelopes get it too.
* With origins configured every response says ``Vary: Origin``.

Credentials are bearer tokens, never cookies, so ``Access-Control-Allow-Credentials`` is not sent and the
wildcard origin is not supported: list each origin (scheme, host and port, no path).
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import hdrs, web

from api.errors import error_response

# Auth0-Client: @auth0/auth0-spa-js sends it with the token request of a console hosted on another origin.
ALLOW_HEADERS = ("Authorization", "Content-Type", "Last-Event-ID", "X-Request-ID", "Auth0-Client")
EXPOSE_HEADERS = ("X-Request-ID", "Retry-After", "ETag")
MAX_AGE = 600


@dataclass(frozen=True)
class CorsPolicy:
    origins: frozenset[str]
    max_age: int = MAX_AGE

    @classmethod
    def parse(cls, text: str) -> CorsPolicy:
        """``"https://app.example, http://localhost:5173"`` -> a policy (trailing slashes dropped)."""
        return cls(frozenset(o.strip().rstrip("/") for o in text.split(",") if o.strip()))

    @property
    def enabled(self) -> bool:
        return bool(self.origins)

    def allows(self, origin: str | None) -> bool:
        return origin is not None and origin in self.origins


CORS_POLICY = web.AppKey("cors_policy", CorsPolicy)


def frontend_origin(text: str) -> str | None:
    """The first origin listed in ``CLOUDMARKET_CORS_ORIGINS`` (the frontend's), or ``None``: SIWE messages
    are then bound to it when ``siwe_domain`` / ``siwe_uri`` are not set (:mod:`api.auth.identity_setup`)."""
    for origin in text.split(","):
        if origin.strip():
            return origin.strip().rstrip("/")
    return None


def _policy(request: web.Request) -> CorsPolicy | None:
    policy = request.app.get(CORS_POLICY)
    return policy if policy is not None and policy.enabled else None


def _add_vary(response: web.StreamResponse) -> None:
    vary = response.headers.get(hdrs.VARY, "")
    if "origin" not in vary.lower():
        response.headers[hdrs.VARY] = f"{vary}, Origin" if vary else "Origin"


def _allowed_methods(request: web.Request) -> list[str] | None:
    """The methods of the resource the path matches (``None`` if the router knows no such path)."""
    exc = request.match_info.http_exception
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return sorted(exc.allowed_methods)
    if exc is None:
        return [request.match_info.route.method]
    return None


def preflight_response(request: web.Request, policy: CorsPolicy) -> web.StreamResponse | None:
    """The answer to a CORS preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``)
    to a path the router knows; ``None`` for anything else (it goes on to the handler, or the router's
    404). Called by :func:`api.middlewares.api_middleware` for ``OPTIONS`` requests when ``policy`` is
    enabled."""
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is None or hdrs.ACCESS_CONTROL_REQUEST_METHOD not in request.headers:
        return None
    methods = _allowed_methods(request)
    if methods is None:
        return None  # unknown path: the router's 404
    if not policy.allows(origin):
        return error_response(
            403, "cors_origin_not_allowed", "this origin may not call the API", {"origin": origin[:200]}
        )
    response = web.Response(status=204)
    response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
    response.headers[hdrs.ACCESS_CONTROL_ALLOW_METHODS] = ", ".join([*methods, "OPTIONS"])
    response.headers[hdrs.ACCESS_CONTROL_ALLOW_HEADERS] = ", ".join(ALLOW_HEADERS)
    response.headers[hdrs.ACCESS_CONTROL_MAX_AGE] = str(policy.max_age)
    return response


async def add_cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: the actual-response headers (also on errors and streams)."""
    policy = _policy(request)
    if policy is None:
        return
    _add_vary(response)
    origin = request.headers.get(hdrs.ORIGIN)
    if policy.allows(origin) and hdrs.ACCESS_CONTROL_ALLOW_ORIGIN not in response.headers:
        assert origin is not None
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
        response.headers[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS] = ", ".join(EXPOSE_HEADERS)


def setup_cors(app: web.Application, origins: str) -> None:
    """Install the policy for ``origins``: preflights are answered by :func:`api.middlewares.api_middleware`
    (through :func:`preflight_response`), the response headers by :func:`add_cors_headers`, installed only
    when origins are configured (without them it would do nothing, at the cost of a signal per response)."""
    policy = app[CORS_POLICY] = CorsPolicy.parse(origins)
    if policy.enabled:
        app.on_response_prepare.append(add_cors_headers)
