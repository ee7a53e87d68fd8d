"""Identity wiring: configuration, and what the identity handlers use, built once at start-up.

The app factory calls :func:`setup` (after ``app[RUNTIME]`` is set). It registers a ``cleanup_ctx`` that,
at start-up, refuses the dev issuer outside dev, opens the aiohttp session used for JWKS, and builds the
:class:`~api.auth.middleware.Authenticator` and :class:`~engine.identity.siwe.SiweService`
(:class:`Identity`, reached by handlers through :func:`identity_of`).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from api.auth.devissuer import DevIssuer, check_dev_issuer_allowed
from api.auth.devoidc import DEV_CLIENT_ID, DevOidc, allowed_redirect_uris
from api.auth.jwt import JwksCache, JwtVerifier
from api.auth.middleware import AUTHENTICATOR, Authenticator
from api.auth.principal import Principal
from api.auth.session import DEFAULT_TTL, SessionTokens, derive_session_secret, load_or_create_session_secret
from api.cors import frontend_origin
from api.keys import RUNTIME
from engine.identity.siwe import SiweConfig, SiweService
from engine.settings import Settings
from engine.wallets.crypto import MasterKey


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
    # browser origins the console is served from: the dev OpenID Connect redirect URIs (dev only)
    console_origins: tuple[str, ...] = ()
    console_client_id: str = DEV_CLIENT_ID  # the console's client id at the dev issuer
    jwks_clock: Callable[[], float] = time.monotonic
    clock: Callable[[], float] = time.time

    @classmethod
    def from_settings(cls, settings: Settings, chain_id: int) -> IdentityOptions:
        """SIWE's domain and URI: ``siwe_domain`` / ``siwe_uri`` when set; else the frontend's origin (the
        first of ``cors_origins``: its host[:port] and the origin itself); else this service's address."""
        http_origin = f"{settings.http_host}:{settings.http_port}"
        frontend = frontend_origin(settings.cors_origins)
        if frontend is not None:
            default_domain, default_uri = urlsplit(frontend).netloc, frontend
        else:
            default_domain, default_uri = http_origin, f"http://{http_origin}"
        return cls(
            env=settings.env,
            data_dir=settings.data_dir,
            chain_id=chain_id,
            auth_issuer=settings.auth_issuer,
            auth_audience=settings.auth_audience,
            auth_jwks_url=settings.auth_jwks_url,
            auth_roles_claim=settings.auth_roles_claim,
            dev_issuer=settings.dev_issuer_enabled,
            siwe_domain=settings.siwe_domain or default_domain,
            siwe_uri=settings.siwe_uri or default_uri,
            siwe_nonce_ttl=settings.siwe_nonce_ttl,
            session_ttl=settings.session_ttl,
            master_key=settings.master_key,
            console_origins=console_origins(settings),
            console_client_id=settings.console_auth_client_id or DEV_CLIENT_ID,
        )

    @property
    def jwks_url(self) -> str | None:
        if self.auth_jwks_url:
            return self.auth_jwks_url
        if self.auth_issuer:
            return self.auth_issuer.rstrip("/") + "/.well-known/jwks.json"
        return None


def console_origins(settings: Settings) -> tuple[str, ...]:
    """This service's own origins (the console it serves at ``/``; ``localhost`` and ``127.0.0.1`` alike
    for a loopback or wildcard host) and every ``cors_origins`` entry (a console hosted elsewhere)."""
    port = settings.http_port
    host = settings.http_host
    loopback_or_any = ("127.0.0.1", "localhost", "0.0.0.0", "::", "")  # noqa: S104 — a comparison, no bind
    hosts = ["127.0.0.1", "localhost"] if host in loopback_or_any else [host]
    own = [f"http://{h}:{port}" for h in hosts]
    others = [o.strip().rstrip("/") for o in settings.cors_origins.split(",") if o.strip()]
    return tuple(dict.fromkeys([*own, *others]))


@dataclass
class Identity:
    """What the identity handlers use, built once at start-up."""

    options: IdentityOptions
    authenticator: Authenticator
    siwe: SiweService
    sessions: SessionTokens
    dev_issuer: DevIssuer | None
    dev_oidc: DevOidc | None = None


class IdentityHolder:
    """Filled at start-up (the app is frozen by then, so the slot is created in :func:`setup`)."""

    def __init__(self) -> None:
        self.identity: Identity | None = None


IDENTITY = web.AppKey("identity", IdentityHolder)


def identity_of(request: web.Request) -> Identity:
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
    oidc = (
        DevOidc(
            dev,
            allowed_redirect_uris(options.console_origins),
            options.auth_roles_claim,
            options.clock,
            options.console_client_id,
        )
        if dev is not None
        else None
    )
    return Identity(options, authenticator, siwe, sessions, dev, oidc)


def setup(app: web.Application, options: IdentityOptions | None = None) -> None:
    """Install identity's start-up/shutdown context. ``options`` default: from ``app[RUNTIME].settings``."""
    from api.routes import devoidc  # its handlers reach identity through this module

    holder = IdentityHolder()
    app[IDENTITY] = holder
    devoidc.install(app)  # dev OpenID Connect: 404 at run time unless the dev issuer is enabled
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
