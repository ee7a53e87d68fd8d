"""Identity routes: session, settings, SIWE, provider nodes and node tokens.

=====================================================  =================================================
route                                                  who
=====================================================  =================================================
GET  /api/auth/session                                 any signed-in user (roles may be empty)
GET  /api/me/settings, PUT /api/me/settings            any signed-in user
POST /api/auth/siwe/nonce                              public
POST /api/auth/siwe/verify                             public (signed-in user: links; else wallet sign-in)
GET  /api/auth/dev/jwks.json                           public, dev issuer enabled only (else 404)
(GET|POST /api/cloud-provider/nodes live in api.routes.provider)
POST /api/cloud-provider/nodes/{id}/tokens             cloud-provider owning the node
DELETE /api/cloud-provider/nodes/{id}/tokens/{tid}     cloud-provider owning the node
=====================================================  =================================================

Wiring (by the app factory): add :data:`routes` to ``api.routes.ROUTE_TABLES`` and call
``setup(app)`` in ``create_app`` (after ``app[RUNTIME]`` is set). ``setup`` registers a ``cleanup_ctx``
that, at start-up, refuses the dev issuer outside dev, opens the aiohttp session used for JWKS, and builds
the :class:`~api.auth.middleware.Authenticator` and :class:`~engine.identity.siwe_service.SiweService`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from api.auth.devissuer import DevIssuer, check_dev_issuer_allowed
from api.auth.errors import Conflict, Unauthorized
from api.auth.jwt import JwksCache, JwtVerifier
from api.auth.middleware import AUTHENTICATOR, Authenticator, current_principal, require_role, require_user
from api.auth.principal import CLOUD_PROVIDER, Principal
from api.auth.session import DEFAULT_TTL, SessionTokens, derive_session_secret, load_or_create_session_secret
from api.errors import ApiError, BadRequest, NotFound
from api.keys import RUNTIME
from api.openapi import RouteTable
from api.validation import validated_body
from engine.identity import node_tokens, services
from engine.identity.errors import (
    AddressAlreadyLinked,
    InvalidSettings,
    NodeNotFound,
    SiweError,
    SiweParseError,
)
from engine.identity.siwe_service import SiweConfig, SiweService, sign_in_with_wallet
from engine.settings import Settings
from engine.wallets.crypto import MasterKey

routes = RouteTable(tag="identity")


# ---- configuration -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class IdentityOptions:
    """Everything identity needs from configuration. :meth:`from_settings` reads :class:`Settings`."""

    env: str
    data_dir: Path
    chain_id: int
    auth_issuer: str | None = None
    auth_audience: str | None = None
    auth_jwks_url: str | None = None
    auth_roles_claim: str = "permissions"
    auth_leeway: int = 30
    dev_issuer: bool = True
    siwe_domain: str = "localhost:8080"
    siwe_uri: str = "http://localhost:8080"
    siwe_nonce_ttl: int = 600
    session_ttl: int = DEFAULT_TTL
    master_key: str | None = field(default=None, repr=False)
    jwks_cooldown: float = 30.0
    jwks_clock: Callable[[], float] = time.monotonic
    clock: Callable[[], float] = time.time

    @classmethod
    def from_settings(cls, settings: Settings, chain_id: int) -> IdentityOptions:
        http_origin = f"{settings.http_host}:{settings.http_port}"
        return cls(
            env=settings.env,
            data_dir=settings.data_dir,
            chain_id=chain_id,
            auth_issuer=settings.auth_issuer,
            auth_audience=settings.auth_audience,
            auth_jwks_url=settings.auth_jwks_url,
            auth_roles_claim=settings.auth_roles_claim,
            dev_issuer=settings.dev_issuer_enabled,
            siwe_domain=settings.siwe_domain or http_origin,
            siwe_uri=settings.siwe_uri or f"http://{http_origin}",
            siwe_nonce_ttl=settings.siwe_nonce_ttl,
            session_ttl=settings.session_ttl,
            master_key=settings.master_key,
        )

    @property
    def jwks_url(self) -> str | None:
        if self.auth_jwks_url:
            return self.auth_jwks_url
        if self.auth_issuer:
            return self.auth_issuer.rstrip("/") + "/.well-known/jwks.json"
        return None


@dataclass
class Identity:
    """What the identity handlers use, built once at start-up."""

    options: IdentityOptions
    authenticator: Authenticator
    siwe: SiweService
    sessions: SessionTokens
    dev_issuer: DevIssuer | None


class IdentityHolder:
    """Filled at start-up (the app is frozen by then, so the slot is created in :func:`setup`)."""

    def __init__(self) -> None:
        self.identity: Identity | None = None


IDENTITY = web.AppKey("identity", IdentityHolder)


def _identity(request: web.Request) -> Identity:
    ident = request.app[IDENTITY].identity
    assert ident is not None, "identity not set up (call api.routes.identity.setup)"
    return ident


def build_identity(
    options: IdentityOptions, runtime_sessionmaker: Any, w3: Any, http: aiohttp.ClientSession
) -> Identity:
    check_dev_issuer_allowed(options.env, options.dev_issuer)
    auth0: JwtVerifier | None = None
    if options.auth_issuer:
        if not options.auth_audience:
            raise ValueError("auth_audience is required with auth_issuer")
        jwks_url = options.jwks_url
        assert jwks_url is not None
        auth0 = JwtVerifier(
            issuer=options.auth_issuer,
            audience=options.auth_audience,
            keys=JwksCache(jwks_url, http, clock=options.jwks_clock, cooldown=options.jwks_cooldown),
            roles_claim=options.auth_roles_claim,
            leeway=options.auth_leeway,
        )
    dev = DevIssuer(options.data_dir) if options.dev_issuer else None
    if options.master_key:
        secret = derive_session_secret(MasterKey.parse(options.master_key).key)
    else:
        secret = load_or_create_session_secret(options.data_dir)
    sessions = SessionTokens(secret, ttl=options.session_ttl, clock=options.clock)
    authenticator = Authenticator(
        sessionmaker=runtime_sessionmaker,
        sessions=sessions,
        auth0=auth0,
        dev=dev.verifier(options.auth_roles_claim, options.auth_leeway) if dev else None,
    )
    siwe = SiweService(
        SiweConfig(
            domain=options.siwe_domain,
            uri=options.siwe_uri,
            chain_id=options.chain_id,
            nonce_ttl=options.siwe_nonce_ttl,
        ),
        w3=w3,
        clock=options.clock,
    )
    return Identity(options, authenticator, siwe, sessions, dev)


def setup(app: web.Application, options: IdentityOptions | None = None) -> None:
    """Install identity's start-up/shutdown context. ``options`` default: from ``app[RUNTIME].settings``."""
    holder = IdentityHolder()
    app[IDENTITY] = holder
    auth_slot = _AuthenticatorProxy(holder)
    app[AUTHENTICATOR] = auth_slot

    async def _ctx(app: web.Application) -> AsyncIterator[None]:
        runtime = app[RUNTIME]
        opts = options or IdentityOptions.from_settings(runtime.settings, runtime.chain.chain_id)
        async with aiohttp.ClientSession() as http:
            holder.identity = build_identity(opts, runtime.sessionmaker, runtime.chain.w3, http)
            yield
            holder.identity = None

    app.cleanup_ctx.append(_ctx)


class _AuthenticatorProxy:
    """Lets ``request.app[AUTHENTICATOR]`` resolve to the authenticator built at start-up."""

    def __init__(self, holder: IdentityHolder) -> None:
        self._holder = holder

    async def authenticate(self, token: str) -> Principal:
        ident = self._holder.identity
        assert ident is not None
        return await ident.authenticator.authenticate(token)


# ---- error mapping -----------------------------------------------------------------------------------
def _api_error(exc: Exception) -> ApiError:
    if isinstance(exc, SiweParseError):
        return BadRequest(str(exc), code="siwe_malformed", details=exc.details())
    if isinstance(exc, SiweError):
        return Unauthorized("siwe verification failed", siwe=exc.details())
    if isinstance(exc, AddressAlreadyLinked):
        return Conflict(str(exc), code="address_already_linked", details={"address": exc.address})
    if isinstance(exc, InvalidSettings):
        return BadRequest(str(exc), code="invalid_settings", details={"reason": exc.reason})
    if isinstance(exc, NodeNotFound):
        return NotFound(str(exc), details={"node_id": exc.node_id})
    raise exc


# ---- schemas -----------------------------------------------------------------------------------------
ADDRESS = {"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$"}
SESSION_SCHEMA = {
    "type": "object",
    "required": ["user_id", "sub", "roles", "wallets", "source"],
    "properties": {
        "user_id": {"type": "integer"},
        "sub": {"type": "string"},
        "roles": {"type": "array", "items": {"type": "string"}},
        "wallets": {"type": "array", "items": ADDRESS},
        "source": {"type": "string"},
        "email": {"type": ["string", "null"]},
        "name": {"type": ["string", "null"]},
    },
    "additionalProperties": False,
}
SETTINGS_SCHEMA = {
    "type": "object",
    "required": ["settings"],
    "properties": {"settings": {"type": "object"}},
    "additionalProperties": False,
}
NONCE_SCHEMA = {
    "type": "object",
    "required": ["nonce", "expires_at", "domain", "uri", "chain_id"],
    "properties": {
        "nonce": {"type": "string"},
        "expires_at": {"type": "integer"},
        "domain": {"type": "string"},
        "uri": {"type": "string"},
        "chain_id": {"type": "integer"},
    },
    "additionalProperties": False,
}
VERIFY_REQUEST = {
    "type": "object",
    "required": ["message", "signature"],
    "properties": {
        "message": {"type": "string", "maxLength": 8192},
        "signature": {"type": "string", "pattern": "^0x[0-9a-fA-F]*$", "maxLength": 4096},
    },
    "additionalProperties": False,
}
VERIFY_RESPONSE = {
    "type": "object",
    "required": ["user_id", "address", "linked"],
    "properties": {
        "user_id": {"type": "integer"},
        "address": ADDRESS,
        "linked": {"type": "boolean"},
        "session_token": {"type": "string"},
        "expires_in": {"type": "integer"},
    },
    "additionalProperties": False,
}
NODE_SCHEMA = {
    "type": "object",
    "required": ["id", "name", "created_at"],
    "properties": {"id": {"type": "integer"}, "name": {"type": "string"}, "created_at": {"type": "string"}},
    "additionalProperties": False,
}
NODE_CREATE = {
    "type": "object",
    "required": ["name"],
    # at least one non-blank character; the name is stored stripped
    "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": "\\S"}},
    "additionalProperties": False,
}
TOKEN_SCHEMA = {
    "type": "object",
    "required": ["id", "node_id", "token"],
    "properties": {"id": {"type": "integer"}, "node_id": {"type": "integer"}, "token": {"type": "string"}},
    "additionalProperties": False,
}
REVOKED_SCHEMA = {
    "type": "object",
    "required": ["id", "node_id", "revoked"],
    "properties": {"id": {"type": "integer"}, "node_id": {"type": "integer"}, "revoked": {"type": "boolean"}},
    "additionalProperties": False,
}
JWKS_SCHEMA = {"type": "object", "required": ["keys"], "properties": {"keys": {"type": "array"}}}


MAX_ID = 2**31 - 1


def _path_int(request: web.Request, name: str) -> int:
    raw = request.match_info[name]
    if not raw.isdigit() or len(raw) > 18:
        raise BadRequest(f"{name} must be a positive integer", details={"field": name})
    value = int(raw)
    if value > MAX_ID:  # ids are 32-bit INTEGER columns (PostgreSQL rejects larger parameters)
        raise NotFound(f"no such {name}", details={"field": name})
    return value


def _node_json(node: Any) -> dict[str, Any]:
    return {"id": node.id, "name": node.name, "created_at": node.created_at.isoformat()}


# ---- handlers ----------------------------------------------------------------------------------------
@routes.get("/api/auth/session", summary="The caller: user, roles, linked wallets", response=SESSION_SCHEMA)
async def get_session(request: web.Request) -> web.Response:
    principal = await require_user(request)
    assert principal.user_id is not None
    async with request.app[RUNTIME].sessionmaker() as session:
        user = await services.get_user(session, principal.user_id)
    return web.json_response(
        {
            "user_id": user.id,
            "sub": user.sub,
            "roles": sorted(principal.roles),
            "wallets": list(principal.wallets),
            "source": principal.source,
            "email": user.email,
            "name": user.name,
        }
    )


@routes.get("/api/me/settings", summary="The caller's settings object", response=SETTINGS_SCHEMA)
async def get_settings(request: web.Request) -> web.Response:
    principal = await require_user(request)
    assert principal.user_id is not None
    async with request.app[RUNTIME].sessionmaker() as session:
        user = await services.get_user(session, principal.user_id)
    return web.json_response({"settings": user.settings})


@routes.put(
    "/api/me/settings",
    summary="Replace the caller's settings (JSON object, <= 16 KiB)",
    request=SETTINGS_SCHEMA,
    response=SETTINGS_SCHEMA,
)
async def put_settings(request: web.Request) -> web.Response:
    principal = await require_user(request)
    assert principal.user_id is not None
    body = validated_body(request)
    async with request.app[RUNTIME].sessionmaker() as session:
        try:
            value = await services.put_settings(session, principal.user_id, body["settings"])
        except InvalidSettings as exc:
            raise _api_error(exc) from exc
    return web.json_response({"settings": value})


@routes.post("/api/auth/siwe/nonce", summary="A single-use SIWE nonce", response=NONCE_SCHEMA, status=201)
async def siwe_nonce(request: web.Request) -> web.Response:
    ident = _identity(request)
    async with request.app[RUNTIME].sessionmaker() as session:
        row = await ident.siwe.issue_nonce(session)
    cfg = ident.siwe.config
    return web.json_response(
        {
            "nonce": row.nonce,
            "expires_at": row.expires_at,
            "domain": cfg.domain,
            "uri": cfg.uri,
            "chain_id": cfg.chain_id,
        },
        status=201,
    )


@routes.post(
    "/api/auth/siwe/verify",
    summary="Verify a signed SIWE message: link the wallet, or sign a wallet-only user in",
    request=VERIFY_REQUEST,
    response=VERIFY_RESPONSE,
)
async def siwe_verify(request: web.Request) -> web.Response:
    ident = _identity(request)
    principal = await current_principal(request)
    if principal is not None and principal.is_node:
        raise Unauthorized("node tokens cannot sign in")
    body = validated_body(request)
    message: str = body["message"]
    signature: str = body["signature"]
    async with request.app[RUNTIME].sessionmaker() as session:
        try:
            msg = await ident.siwe.verify(session, message, signature)
            user = await sign_in_with_wallet(
                session, msg.address, principal.user_id if principal is not None else None
            )
        except (SiweError, AddressAlreadyLinked) as exc:
            raise _api_error(exc) from exc
    out: dict[str, Any] = {"user_id": user.id, "address": msg.address, "linked": principal is not None}
    if principal is None:
        out["session_token"] = ident.sessions.issue(user.id, user.sub, msg.address)
        out["expires_in"] = ident.sessions.ttl
    return web.json_response(out)


@routes.get(
    "/api/auth/dev/jwks.json", summary="The dev issuer's public keys (dev only)", response=JWKS_SCHEMA
)
async def dev_jwks(request: web.Request) -> web.Response:
    ident = _identity(request)
    if ident.dev_issuer is None:
        raise NotFound("the dev issuer is not enabled")
    return web.json_response(ident.dev_issuer.jwks())


@routes.post(
    "/api/cloud-provider/nodes/{node_id:\\d+}/tokens",
    summary="Issue a node token (shown once)",
    response=TOKEN_SCHEMA,
    status=201,
)
async def issue_node_token(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_PROVIDER)
    assert principal.user_id is not None
    node_id = _path_int(request, "node_id")
    async with request.app[RUNTIME].sessionmaker() as session:
        try:
            issued = await node_tokens.issue_node_token(session, node_id, principal.user_id)
        except NodeNotFound as exc:
            raise _api_error(exc) from exc
    return web.json_response(
        {"id": issued.id, "node_id": issued.node_id, "token": issued.token},
        status=201,
        headers={"Cache-Control": "no-store"},
    )


@routes.delete(
    "/api/cloud-provider/nodes/{node_id:\\d+}/tokens/{token_id:\\d+}",
    summary="Revoke a node token",
    response=REVOKED_SCHEMA,
)
async def revoke_node_token(request: web.Request) -> web.Response:
    principal = await require_role(request, CLOUD_PROVIDER)
    assert principal.user_id is not None
    node_id = _path_int(request, "node_id")
    token_id = _path_int(request, "token_id")
    async with request.app[RUNTIME].sessionmaker() as session:
        try:
            row = await node_tokens.revoke_node_token(session, node_id, token_id, principal.user_id)
        except NodeNotFound as exc:
            raise _api_error(exc) from exc
    return web.json_response({"id": row.id, "node_id": row.node_id, "revoked": True})
