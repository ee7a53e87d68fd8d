"""RS256 access-token verification (Auth0, and the dev issuer) against a cached JWKS.

* The algorithm is pinned to RS256 before any key is chosen: ``alg=none``, HS256 (an HMAC forged with the
  public key as secret, PEM or JWK) and every other algorithm fail with 401. PyJWT >= 2.13 also refuses
  asymmetric keys as HMAC secrets, a second line of defence.
* ``iss`` (exact, Auth0 has a trailing slash), ``aud``, ``exp`` and ``sub`` are required; leeway <= 60 s.
* :class:`JwksCache` fetches ``jwks_uri`` with an injected :class:`aiohttp.ClientSession`, caches keys by
  ``kid``, refetches once when a token names an unknown ``kid``, and at most once per ``cooldown`` (30 s)
  whatever the tokens say, so random ``kid``s cannot make us hammer the tenant. Concurrent misses share
  one fetch (a lock). The clock is injectable; tests never sleep.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import jwt
from jwt.algorithms import RSAAlgorithm

from api.auth.errors import JwksUnavailable, Unauthorized
from api.auth.principal import roles_from_claim

ALGORITHM = "RS256"
MAX_LEEWAY = 60
DEFAULT_COOLDOWN = 30.0
MAX_TOKEN_CHARS = 8192


class KeySource(Protocol):
    async def key_for(self, kid: str) -> Any: ...


def _rsa_key_from_jwk(jwk: Mapping[str, Any]) -> Any | None:
    if jwk.get("kty") != "RSA" or jwk.get("use", "sig") != "sig" or jwk.get("alg", ALGORITHM) != ALGORITHM:
        return None
    try:
        return RSAAlgorithm.from_jwk(dict(jwk))
    except (jwt.InvalidKeyError, ValueError, KeyError, TypeError):
        return None


def keys_from_jwks(doc: Any) -> dict[str, Any]:
    """``{kid: RSA public key}`` for the usable RS256 signing keys of a JWKS document."""
    out: dict[str, Any] = {}
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise ValueError("not a JWKS document")
    for jwk in doc["keys"]:
        if isinstance(jwk, dict) and isinstance(jwk.get("kid"), str):
            key = _rsa_key_from_jwk(jwk)
            if key is not None:
                out[jwk["kid"]] = key
    return out


class StaticKeys:
    """A fixed key set (the dev issuer's own key)."""

    def __init__(self, keys: Mapping[str, Any]) -> None:
        self._keys = dict(keys)

    async def key_for(self, kid: str) -> Any:
        try:
            return self._keys[kid]
        except KeyError:
            raise Unauthorized("unknown signing key", kid=kid[:64]) from None


class JwksCache:
    def __init__(
        self,
        url: str,
        http: aiohttp.ClientSession,
        *,
        clock: Callable[[], float] = time.monotonic,
        cooldown: float = DEFAULT_COOLDOWN,
        timeout: float = 5.0,
    ) -> None:
        self.url = url
        self.http = http
        self.clock = clock
        self.cooldown = cooldown
        self.timeout = timeout
        self.fetches = 0
        self._keys: dict[str, Any] = {}
        self._last_fetch: float | None = None
        self._lock = asyncio.Lock()

    async def key_for(self, kid: str) -> Any:
        key = self._keys.get(kid)
        if key is not None:
            return key
        async with self._lock:
            key = self._keys.get(kid)
            if key is None and self._may_fetch():
                await self._refresh()
                key = self._keys.get(kid)
        if key is None:
            raise Unauthorized("unknown signing key", kid=kid[:64])
        return key

    def _may_fetch(self) -> bool:
        return self._last_fetch is None or self.clock() - self._last_fetch >= self.cooldown

    async def _refresh(self) -> None:
        self._last_fetch = self.clock()  # failures count too: a dead tenant is not hammered either
        self.fetches += 1
        try:
            async with self.http.get(
                self.url, timeout=aiohttp.ClientTimeout(total=self.timeout), allow_redirects=False
            ) as resp:
                if resp.status != 200:
                    raise JwksUnavailable(self.url, f"HTTP {resp.status}")
                doc = await resp.json(content_type=None)
            self._keys = keys_from_jwks(doc)
        except JwksUnavailable:
            raise
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise JwksUnavailable(self.url, type(exc).__name__) from exc


@dataclass(frozen=True)
class VerifiedToken:
    sub: str
    roles: frozenset[str]
    claims: dict[str, Any]


class JwtVerifier:
    """Verifies RS256 access tokens of one issuer for one audience."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        keys: KeySource,
        roles_claim: str = "permissions",
        leeway: int = 30,
    ) -> None:
        if not 0 <= leeway <= MAX_LEEWAY:
            raise ValueError(f"leeway must be 0..{MAX_LEEWAY} s")
        self.issuer = issuer
        self.audience = audience
        self.keys = keys
        self.roles_claim = roles_claim
        self.leeway = leeway

    async def verify(self, token: str) -> VerifiedToken:
        if len(token) > MAX_TOKEN_CHARS:
            raise Unauthorized("token too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized("malformed token") from exc
        if header.get("alg") != ALGORITHM:
            raise Unauthorized("algorithm not allowed", alg=str(header.get("alg"))[:16])
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthorized("token has no key id")
        key = await self.keys.key_for(kid)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("token expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise Unauthorized("token not valid yet") from exc
        except jwt.InvalidAudienceError as exc:
            raise Unauthorized("wrong audience") from exc
        except jwt.InvalidIssuerError as exc:
            raise Unauthorized("wrong issuer") from exc
        except jwt.InvalidSignatureError as exc:
            raise Unauthorized("bad signature") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("invalid token", error=type(exc).__name__) from exc
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub or len(sub) > 255:
            raise Unauthorized("invalid subject")
        return VerifiedToken(sub=sub, roles=roles_from_claim(claims.get(self.roles_claim)), claims=claims)
