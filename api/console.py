"""The web console: its build (``console/dist``) at ``/``, its configuration at ``/console-config.json``.

The console is not part of the API, so it is not a route table (the OpenAPI document stays the API's):
one innermost middleware answers ``GET``/``HEAD`` requests that no route matched, outside ``/api``:

* ``/console-config.json``: what the console needs to run, from the settings (API base URL, the identity
  provider for the Auth0 SPA SDK — in dev the service's dev issuer —, Stripe's publishable key and Stripe.js
  URL, chain id and RPC URL), ``Cache-Control: no-cache``;
* a file of the build (``/assets/app-<hash>.js``): served with a one-year immutable cache (the name
  changes with the content);
* any other path: ``index.html`` (the single-page app routes in the browser), ``no-cache``.

Unknown ``/api/...`` paths, other methods and a missing build keep the JSON 404 of the error middleware.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from api.auth.devissuer import DEV_AUDIENCE, DEV_ISSUER
from api.keys import RUNTIME
from engine.meta.commands import chain_info
from engine.settings import Settings

CONSOLE_DIR = web.AppKey("console_dir", Path)
DEFAULT_DIR = Path(__file__).resolve().parent.parent / "console" / "dist"
CONFIG_PATH = "/console-config.json"
# the console's client id at the dev issuer (api.auth.devoidc accepts only this one)
DEV_CLIENT_ID = "cloudmarket-console"
IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"


def _is_api(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def auth_config(settings: Settings, origin: str) -> dict[str, Any] | None:
    """The identity provider for ``@auth0/auth0-spa-js``: Auth0 when ``auth_issuer`` is set, else (dev) the
    service's dev issuer, whose OpenID Connect endpoints live under ``<origin>/api/auth/dev``."""
    if settings.auth_issuer:
        return {
            "domain": settings.auth_issuer.rstrip("/"),
            "issuer": settings.auth_issuer,
            "client_id": settings.console_auth_client_id,
            "audience": settings.auth_audience,
            "dev": False,
        }
    if settings.dev_issuer_enabled:
        return {
            "domain": f"{origin}/api/auth/dev",
            "issuer": DEV_ISSUER,
            "client_id": DEV_CLIENT_ID,
            "audience": DEV_AUDIENCE,
            "dev": True,
        }
    return None


def console_config(request: web.Request) -> dict[str, Any]:
    runtime = request.app[RUNTIME]
    settings = runtime.settings
    api_base = settings.console_api_base.rstrip("/")
    origin = api_base or f"{request.scheme}://{request.host}"
    info = chain_info(runtime.context)
    return {
        "api_base": api_base,
        "auth": auth_config(settings, origin),
        "stripe": {"publishable_key": settings.stripe_publishable_key, "js_url": settings.stripe_js_url},
        "chain": {"chain_id": info.chain_id, "rpc_url": info.rpc_url},
    }


def _file(root: Path, path: str) -> Path | None:
    """The build file at URL ``path`` (``None`` when absent or outside the build)."""
    candidate = (root / path.lstrip("/")).resolve()
    if candidate != root and root in candidate.parents and candidate.is_file():
        return candidate
    return None


@web.middleware
async def console_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    unmatched = isinstance(request.match_info.http_exception, web.HTTPNotFound)
    if not unmatched or request.method not in ("GET", "HEAD") or _is_api(request.path):
        return await handler(request)
    if request.path == CONFIG_PATH:
        return web.json_response(console_config(request), headers={"Cache-Control": NO_CACHE})
    root = request.app[CONSOLE_DIR]
    index = root / "index.html"
    if not index.is_file():
        return await handler(request)  # no build: the JSON 404
    found = _file(root, request.path)
    if found is not None and found != index:
        cache = IMMUTABLE if found.parent == root / "assets" else NO_CACHE
        return web.FileResponse(found, headers={"Cache-Control": cache})
    headers = {"Cache-Control": NO_CACHE, "Content-Type": "text/html; charset=utf-8"}
    return web.FileResponse(index, headers=headers)


def setup(app: web.Application, settings: Settings) -> None:
    """Serve the console from ``settings.console_dir`` (default: this checkout's ``console/dist``)."""
    app[CONSOLE_DIR] = (settings.console_dir or DEFAULT_DIR).resolve()
    app.middlewares.append(console_middleware)
