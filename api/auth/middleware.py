"""Resolving the caller: ``Authorization: Bearer <token>`` to a :class:`Principal`, and route guards.

Token kinds, told apart before any verification, each then verified by a verifier that pins its own
algorithm (so a token of one kind can never pass as another):

* ``cmn_...``                 node token -> ``Principal(node_id=...)``, only accepted by :func:`require_node`;
* header ``typ=cm-session+jwt`` the service's SIWE session token (HS256, :mod:`api.auth.session`);
* any other JWT               routed by its (unverified) ``iss`` to the Auth0 verifier or, in dev, the dev
                              issuer's verifier; both pin RS256. An unknown issuer is 401.

A user principal's first request creates the user row (``engine.identity.services.ensure_user``).

Handlers call the guards::

    principal = await require_role(request, CLOUD_PROVIDER)
    principal = await require_node(request, node_id)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import jwt
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.auth.errors import Forbidden, Unauthorized
from api.auth.jwt import JwtVerifier
from api.auth.principal import (
    CLOUD_USER,
    SOURCE_AUTH0,
    SOURCE_DEV,
    SOURCE_NODE,
    SOURCE_SESSION,
    Principal,
)
from api.auth.session import SessionTokens
from engine.identity.errors import NodeTokenInvalid
from engine.identity.models import User
from engine.identity.node_tokens import authenticate_node_token, looks_like_node_token
from engine.identity.services import Profile, ensure_user, wallet_addresses


@dataclass
class Authenticator:
    sessionmaker: async_sessionmaker[AsyncSession]
    sessions: SessionTokens
    auth0: JwtVerifier | None = None
    dev: JwtVerifier | None = None

    async def authenticate(self, token: str) -> Principal:
        if looks_like_node_token(token):
            return await self._node(token)
        if SessionTokens.is_session_token(token):
            return await self._session(token)
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise Unauthorized("malformed token") from exc
        iss = unverified.get("iss")
        if self.dev is not None and iss == self.dev.issuer:
            verifier, source = self.dev, SOURCE_DEV
        elif self.auth0 is not None and iss == self.auth0.issuer:
            verifier, source = self.auth0, SOURCE_AUTH0
        else:
            raise Unauthorized("unknown issuer")
        verified = await verifier.verify(token)
        claims = verified.claims
        profile = Profile(
            email=claims["email"] if isinstance(claims.get("email"), str) else None,
            name=claims["name"] if isinstance(claims.get("name"), str) else None,
        )
        async with self.sessionmaker() as session:
            user = await ensure_user(session, verified.sub, profile)
            wallets = await wallet_addresses(session, user.id)
        return Principal(
            source=source, user_id=user.id, sub=user.sub, roles=verified.roles, wallets=tuple(wallets)
        )

    async def _session(self, token: str) -> Principal:
        claims = self.sessions.verify(token)
        async with self.sessionmaker() as session:
            user = await session.get(User, claims.user_id)
            if user is None or user.sub != claims.sub:
                raise Unauthorized("session user is gone")
            wallets = await wallet_addresses(session, user.id)
        if claims.address not in wallets:
            raise Unauthorized("session wallet is no longer linked")
        return Principal(
            source=SOURCE_SESSION,
            user_id=user.id,
            sub=user.sub,
            roles=frozenset({CLOUD_USER}),
            wallets=tuple(wallets),
        )

    async def _node(self, token: str) -> Principal:
        async with self.sessionmaker() as session:
            try:
                node_id = await authenticate_node_token(session, token)
            except NodeTokenInvalid as exc:
                raise Unauthorized(exc.reason) from exc
        return Principal(source=SOURCE_NODE, node_id=node_id)


class TokenAuthenticator(Protocol):
    async def authenticate(self, token: str) -> Principal: ...


AUTHENTICATOR = web.AppKey("authenticator", TokenAuthenticator)
PRINCIPAL = web.RequestKey("principal", Principal)


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization header must be 'Bearer <token>'")
    return token.strip()


async def current_principal(request: web.Request) -> Principal | None:
    """The caller, or ``None`` when no credentials were sent. Bad credentials are 401, never anonymous."""
    if PRINCIPAL in request:
        return request[PRINCIPAL]
    token = bearer_token(request)
    if token is None:
        return None
    principal = await request.app[AUTHENTICATOR].authenticate(token)
    request[PRINCIPAL] = principal
    return principal


async def require_user(request: web.Request) -> Principal:
    """Any signed-in user (even one without roles); node tokens are refused."""
    principal = await current_principal(request)
    if principal is None:
        raise Unauthorized("missing bearer token")
    if principal.is_node:
        raise Forbidden("node tokens are accepted only on node-agent routes")
    return principal


async def require_role(request: web.Request, *roles: str) -> Principal:
    """A user holding at least one of ``roles``: 401 without credentials, 403 without the role."""
    principal = await require_user(request)
    if not principal.has_role(*roles):
        raise Forbidden("missing role", details={"required_any_of": sorted(roles)})
    return principal


async def require_node(request: web.Request, node_id: int) -> Principal:
    """A node token for exactly ``node_id``: 401 without/with bad credentials, 403 for anything else."""
    principal = await current_principal(request)
    if principal is None:
        raise Unauthorized("missing node token")
    if principal.node_id != node_id:
        raise Forbidden("a token of this node is required", details={"node_id": node_id})
    return principal
