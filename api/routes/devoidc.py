"""Dev OpenID Connect routes (dev only: 404 wherever the dev issuer is not enabled, so never in production).

=====================================================  =================================================
route                                                  what
=====================================================  =================================================
GET  /api/auth/dev/.well-known/openid-configuration    discovery
GET  /api/auth/dev/authorize                           login form (or ``login_required`` when silent)
POST /api/auth/dev/authorize                           the form's submit: redirect with ``code``
POST /api/auth/dev/oauth/token                         code + PKCE verifier -> tokens
GET  /api/auth/dev/v2/logout                           redirect to ``returnTo`` when it is allowed
=====================================================  =================================================

The rules live in :mod:`api.auth.devoidc`; these handlers only read the request and render. Token errors
are RFC 6749 bodies (what OAuth clients such as ``@auth0/auth0-spa-js`` read), not the API's envelope.

They speak OAuth (form posts, HTML, redirects), not the API's JSON contract, and exist only in dev: so they
are not a route table and not in the OpenAPI document (like the console, :mod:`api.console`).
:func:`install` adds them (``identity.setup`` calls it); they need no credentials.
"""

from __future__ import annotations

from aiohttp import web

from api.auth.devoidc import (
    DevOidc,
    OAuthError,
    login_page,
    web_message_page,
)
from api.auth.identity_setup import identity_of
from api.auth.principal import KNOWN_ROLES
from api.errors import NotFound

BASE = "/api/auth/dev"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _oidc(request: web.Request) -> DevOidc:
    oidc = identity_of(request).dev_oidc
    if oidc is None:
        raise NotFound("the dev issuer is not enabled")
    return oidc


def _base_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}{BASE}"


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", headers=_NO_STORE)


def _oauth_error(err: OAuthError) -> web.Response:
    return web.json_response(
        {"error": err.error, "error_description": err.description}, status=err.status, headers=_NO_STORE
    )


async def discovery(request: web.Request) -> web.Response:
    return web.json_response(_oidc(request).discovery(_base_url(request)))


async def authorize_form(request: web.Request) -> web.Response:
    oidc = _oidc(request)
    params = dict(request.query)
    try:
        uri = oidc.check_redirect(params)
    except OAuthError as err:  # never redirect to a URI we do not trust: show the error
        return _html(f"<!doctype html><p role=alert>{err.error}: {err.description}</p>", status=400)
    silent = params.get("response_mode") == "web_message" or params.get("prompt") == "none"
    try:
        req = oidc.parse_authorize(params)
    except OAuthError as err:
        error = {"error": err.error, "error_description": err.description, "state": params.get("state", "")}
        if params.get("response_mode") == "web_message":
            return _html(web_message_page(uri, error))
        raise web.HTTPFound(oidc.redirect_with(uri, error)) from None
    if silent:  # no login session to reuse: the SDK falls back to an interactive login
        error = {
            "error": "login_required",
            "error_description": "Login required (the dev issuer keeps no login session)",
            "state": req.state,
        }
        if params.get("response_mode") == "web_message":
            return _html(web_message_page(uri, error))
        raise web.HTTPFound(oidc.redirect_with(uri, error))
    return _html(login_page(req, f"{BASE}/authorize", KNOWN_ROLES))


async def authorize_submit(request: web.Request) -> web.Response:
    oidc = _oidc(request)
    form = await request.post()
    params = {k: v for k, v in form.items() if isinstance(v, str) and k != "role"}
    roles = [v for v in form.getall("role", []) if isinstance(v, str)]
    try:
        req = oidc.parse_authorize(params)
    except OAuthError as err:
        return _html(f"<!doctype html><p role=alert>{err.error}: {err.description}</p>", status=400)
    try:
        code = oidc.issue_code(req, params.get("sub", ""), roles)
    except OAuthError as err:
        return _html(login_page(req, f"{BASE}/authorize", KNOWN_ROLES, err.description), status=400)
    raise web.HTTPFound(oidc.redirect_with(req.redirect_uri, {"code": code, "state": req.state}))


async def token(request: web.Request) -> web.Response:
    oidc = _oidc(request)
    if request.content_type == "application/json":
        try:
            raw = await request.json()
        except ValueError:
            raw = None
        if not isinstance(raw, dict):
            return _oauth_error(OAuthError("invalid_request", "the body must be a JSON object"))
        params = {k: v for k, v in raw.items() if isinstance(v, str)}
    else:
        params = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
    try:
        body = oidc.exchange(params)
    except OAuthError as err:
        return _oauth_error(err)
    return web.json_response(body, headers=_NO_STORE)


async def logout(request: web.Request) -> web.Response:
    oidc = _oidc(request)
    target = request.query.get("returnTo", "")
    if target in oidc.redirect_uris:
        raise web.HTTPFound(target)
    return _html("<!doctype html><p>Logged out.</p>")


# (method, path) of every route :func:`install` adds: the OpenAPI test's list of deliberately undocumented
# routes reads it, so a new OAuth route is added here or it fails that test.
ROUTES = (
    ("GET", f"{BASE}/.well-known/openid-configuration", discovery),
    ("GET", f"{BASE}/authorize", authorize_form),
    ("POST", f"{BASE}/authorize", authorize_submit),
    ("POST", f"{BASE}/oauth/token", token),
    ("GET", f"{BASE}/v2/logout", logout),
)


def install(app: web.Application) -> None:
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
