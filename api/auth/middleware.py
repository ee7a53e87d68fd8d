"""Resolving the caller: ``Authorization: Bearer <token>`` to a :class:`Principal`, and route guards.

Token kinds, told apart before any verification, each then verified by a verifier that pins its own
algorithm (so a token of one kind can never pass as another):

* ``cmn_...``                 node token -> ``Principal(node_id=...)``, only accepted by :func:`require_node`;
* header ``typ=cm-session+jwt`` the service's SIWE session token (HS256, :mod:`api.auth.session`);
* any other JWT               routed by its (unverified) ``iss`` to the Auth0 verifier or, in dev, the dev
                              issuer's verifier; both pin RS256. An unknown issuer is 401.

A user principal's first request creates the user row (``engine.identity.services.ensure_user``).
Verified tokens and their principals are cached (see :class:`Authenticator`).

Handlers call the guards::

    principal = await require_role(request, CLOUD_PROVIDER)
    principal = await require_node(request, node_id)
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
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
from api.auth.session import SessionClaims, SessionTokens
from engine import db
from engine.identity import changes
from engine.identity.errors import NodeTokenInvalid
from engine.identity.node_tokens import authenticate_node_token, looks_like_node_token
from engine.identity.services import Profile, ensure_user, principal_by_id, principal_by_sub

PRINCIPAL_TTL = 5.0
"""Seconds a cached principal (user id, linked wallets) is trusted without reading the database again.

Within this process every committed change of wallet links or user deletions invalidates it at once
(:mod:`engine.identity.changes`); a change made by another API process is seen after at most this long."""
CACHE_SIZE = 10_000
"""Verified tokens remembered (least recently used dropped first)."""


@dataclass
class _Verified:
    """A token whose signature and claims were verified, until its ``exp``; and the principal last
    resolved for it, with the identity generation it was read at."""

    expires_at: float
    source: str
    sub: str
    roles: frozenset[str]
    profile: Profile | None = None
    session: SessionClaims | None = None
    principal: Principal | None = None
    generation: int = -1
    fresh_until: float = 0.0
    pending: asyncio.Future[Principal] | None = None  # the read in flight, shared by concurrent requests
    pending_generation: int = -1


def _retrieve(task: asyncio.Future[Principal]) -> None:
    """Mark a shared read's failure as seen (every waiter may have gone: no "never retrieved" noise)."""
    if not task.cancelled():
        task.exception()


@dataclass
class Authenticator:
    """Bearer token -> :class:`Principal`, each user token verified ONCE and its principal cached.

    Verified user tokens (Auth0, dev issuer, SIWE session) are remembered by the SHA-256 of the raw token
    until their ``exp`` (bounded LRU of :data:`CACHE_SIZE`): a later request with the same token neither
    decodes nor verifies it again. The principal resolved for it (user id, wallets; the roles are the
    token's own claims) is reused for :data:`PRINCIPAL_TTL` seconds unless
    :func:`engine.identity.changes.generation` moved (a wallet linked or unlinked, a user deleted in this
    process). A cache hit costs no database session. Node tokens are not cached: their revocation takes
    effect on the next request. A signing key withdrawn from the JWKS does not void tokens already
    verified with it before their ``exp``.
    """

    sessionmaker: async_sessionmaker[AsyncSession]
    sessions: SessionTokens
    auth0: JwtVerifier | None = None
    dev: JwtVerifier | None = None
    ttl: float = PRINCIPAL_TTL
    cache_size: int = CACHE_SIZE
    clock: Callable[[], float] = time.time  # wall clock: compared with the tokens' ``exp``
    _cache: OrderedDict[bytes, _Verified] = field(default_factory=OrderedDict, repr=False)

    async def authenticate(self, token: str) -> Principal:
        if looks_like_node_token(token):
            return await self._node(token)
        key = hashlib.sha256(token.encode()).digest()
        entry = self._cache.get(key)
        now = self.clock()
        if entry is not None and now < entry.expires_at:
            self._cache.move_to_end(key)
            principal = entry.principal
            if principal is not None and entry.generation == changes.generation() and now < entry.fresh_until:
                return principal
        else:
            if entry is not None:
                del self._cache[key]  # expired: verify again (and fail as such)
            entry = await self._verify(token)
            self._cache[key] = entry
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        generation = changes.generation()  # taken BEFORE reading (see engine.identity.changes)
        task = entry.pending
        if task is None or entry.pending_generation != generation:
            # one read for the many concurrent requests of one token (they all find it stale at once)
            entry.principal, entry.pending_generation = None, generation
            task = entry.pending = asyncio.ensure_future(self._resolve(entry, generation, now))
            task.add_done_callback(_retrieve)
        return await asyncio.shield(task)

    async def _resolve(self, entry: _Verified, generation: int, now: float) -> Principal:
        try:
            principal = await (self._session(entry) if entry.session is not None else self._user(entry))
        finally:
            if entry.pending is asyncio.current_task():
                entry.pending = None
        if generation == changes.generation():
            entry.principal, entry.generation, entry.fresh_until = principal, generation, now + self.ttl
        return principal

    async def _verify(self, token: str) -> _Verified:
        if SessionTokens.is_session_token(token):
            session = self.sessions.verify(token)
            return _Verified(
                expires_at=session.expires_at,
                source=SOURCE_SESSION,
                sub=session.sub,
                roles=frozenset({CLOUD_USER}),
                session=session,
            )
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
        return _Verified(
            expires_at=float(claims["exp"]),
            source=source,
            sub=verified.sub,
            roles=verified.roles,
            profile=Profile(
                email=claims["email"] if isinstance(claims.get("email"), str) else None,
                name=claims["name"] if isinstance(claims.get("name"), str) else None,
            ),
        )

    async def _user(self, entry: _Verified) -> Principal:
        async with db.read_only(self.sessionmaker) as conn:
            found = await principal_by_sub(conn, entry.sub)
        if found is None:  # first sight of this subject
            async with self.sessionmaker() as session:
                user_id, wallets = (await ensure_user(session, entry.sub, entry.profile)).id, list[str]()
        else:
            user_id, wallets = found
        return Principal(
            source=entry.source, user_id=user_id, sub=entry.sub, roles=entry.roles, wallets=tuple(wallets)
        )

    async def _session(self, entry: _Verified) -> Principal:
        claims = entry.session
        assert claims is not None
        async with db.read_only(self.sessionmaker) as conn:
            found = await principal_by_id(conn, claims.user_id)
        if found is None or found[0] != claims.sub:
            raise Unauthorized("session user is gone")
        wallets = found[1]
        if claims.address not in wallets:
            raise Unauthorized("session wallet is no longer linked")
        return Principal(
            source=SOURCE_SESSION,
            user_id=claims.user_id,
            sub=claims.sub,
            roles=entry.roles,
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
