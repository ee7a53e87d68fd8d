"""Auth0-style RS256 verification against a real local JWKS server (aiohttp on 127.0.0.1).

Tokens are signed with RSA keys generated here; the verifier is used as-is (no patching). The JWKS cache
clock is a counter the tests advance; nothing sleeps.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from api.auth.errors import Unauthorized
from api.auth.jwt import JwksCache, JwtVerifier
from api.auth.principal import CLOUD_PROVIDER, CLOUD_USER

ISSUER = "https://tenant.example.auth0.com/"
AUDIENCE = "https://api.cloudmarket.test"


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@dataclass
class Jwks:
    keys: dict[str, rsa.RSAPrivateKey] = field(default_factory=dict)
    requests: int = 0

    def doc(self) -> dict[str, Any]:
        out = []
        for kid, key in self.keys.items():
            jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
            out.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": out}


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def key_a() -> rsa.RSAPrivateKey:
    return new_key()


@pytest.fixture
async def jwks_server(key_a: rsa.RSAPrivateKey) -> AsyncIterator[tuple[Jwks, str]]:
    state = Jwks(keys={"kid-a": key_a})

    async def handler(_request: web.Request) -> web.Response:
        state.requests += 1
        return web.json_response(state.doc())

    app = web.Application()
    app.router.add_get("/.well-known/jwks.json", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield state, str(server.make_url("/.well-known/jwks.json"))
    finally:
        await server.close()


@pytest.fixture
async def verifier(jwks_server: tuple[Jwks, str]) -> AsyncIterator[tuple[JwtVerifier, Jwks, Clock]]:
    state, url = jwks_server
    clock = Clock()
    async with aiohttp.ClientSession() as http:
        cache = JwksCache(url, http, clock=clock)
        yield JwtVerifier(issuer=ISSUER, audience=AUDIENCE, keys=cache, leeway=30), state, clock


def claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "auth0|alice",
        "iat": now,
        "exp": now + 600,
        "permissions": [CLOUD_USER, "read:unrelated"],
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def sign(key: rsa.RSAPrivateKey, kid: str = "kid-a", **over: Any) -> str:
    return jwt.encode(claims(**over), key, algorithm="RS256", headers={"kid": kid})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: dict[str, Any], payload: dict[str, Any], hmac_key: bytes | None) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    sig = b"" if hmac_key is None else hmac.new(hmac_key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(sig)}"


async def test_valid_token_gives_sub_and_known_roles_only(verifier, key_a) -> None:
    v, state, _ = verifier
    out = await v.verify(sign(key_a))
    assert out.sub == "auth0|alice"
    assert out.roles == frozenset({CLOUD_USER})
    assert state.requests == 1
    await v.verify(sign(key_a))
    assert state.requests == 1  # cached


async def test_no_roles_claim_means_no_roles(verifier, key_a) -> None:
    v, _, _ = verifier
    assert (await v.verify(sign(key_a, permissions=None))).roles == frozenset()


async def test_namespaced_roles_claim(jwks_server, key_a) -> None:
    _, url = jwks_server
    async with aiohttp.ClientSession() as http:
        v = JwtVerifier(
            issuer=ISSUER,
            audience=AUDIENCE,
            keys=JwksCache(url, http, clock=Clock()),
            roles_claim="https://cloudmarket/roles",
        )
        token = sign(key_a, **{"https://cloudmarket/roles": [CLOUD_PROVIDER, "admin"]})
        assert (await v.verify(token)).roles == frozenset({CLOUD_PROVIDER})
        assert (await v.verify(sign(key_a))).roles == frozenset()  # `permissions` is not the claim here


def _rsa_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.mark.parametrize(
    "case",
    [
        "alg_none",
        "hs256_pem",
        "hs256_jwk",
        "wrong_aud",
        "wrong_iss",
        "iss_without_slash",
        "expired",
        "nbf_future",
        "unknown_kid",
        "tampered",
        "no_exp",
        "garbage",
        "other_key_same_kid",
    ],
)
async def test_rejected(verifier, key_a, case: str) -> None:
    v, _, _ = verifier
    now = int(time.time())
    if case == "alg_none":
        token = hand_made({"alg": "none", "typ": "JWT", "kid": "kid-a"}, claims(), None)
    elif case == "hs256_pem":
        token = hand_made({"alg": "HS256", "typ": "JWT", "kid": "kid-a"}, claims(), _rsa_pem(key_a))
    elif case == "hs256_jwk":
        jwk = RSAAlgorithm.to_jwk(key_a.public_key()).encode()
        token = hand_made({"alg": "HS256", "typ": "JWT", "kid": "kid-a"}, claims(), jwk)
    elif case == "wrong_aud":
        token = sign(key_a, aud="https://other.api")
    elif case == "wrong_iss":
        token = sign(key_a, iss="https://evil.example.auth0.com/")
    elif case == "iss_without_slash":
        token = sign(key_a, iss=ISSUER.rstrip("/"))
    elif case == "expired":
        token = sign(key_a, iat=now - 7200, exp=now - 120)
    elif case == "nbf_future":
        token = sign(key_a, nbf=now + 300)
    elif case == "unknown_kid":
        token = sign(new_key(), kid="kid-nope")
    elif case == "tampered":
        head, _payload, sig = sign(key_a).split(".")
        evil = b64(json.dumps(claims(sub="auth0|mallory", permissions=["cloud-operator"])).encode())
        token = f"{head}.{evil}.{sig}"
    elif case == "no_exp":
        c = claims()
        del c["exp"]
        token = jwt.encode(c, key_a, algorithm="RS256", headers={"kid": "kid-a"})
    elif case == "garbage":
        token = "not.a.jwt"
    elif case == "other_key_same_kid":
        token = sign(new_key(), kid="kid-a")
    with pytest.raises(Unauthorized) as info:
        await v.verify(token)
    assert info.value.status == 401


async def test_expired_within_leeway_is_accepted(verifier, key_a) -> None:
    v, _, _ = verifier
    now = int(time.time())
    await v.verify(sign(key_a, exp=now - 5))  # leeway 30 s


async def test_rotated_key_accepted_without_restart(verifier, key_a) -> None:
    v, state, clock = verifier
    await v.verify(sign(key_a))
    key_b = new_key()
    state.keys = {"kid-b": key_b}  # the tenant rotated
    clock.t += 31  # past the cooldown
    out = await v.verify(sign(key_b, kid="kid-b"))
    assert out.sub == "auth0|alice"
    assert state.requests == 2


async def test_unknown_kid_refetches_once_then_fails(verifier, key_a) -> None:
    v, state, clock = verifier
    await v.verify(sign(key_a))
    clock.t += 31
    with pytest.raises(Unauthorized):
        await v.verify(sign(new_key(), kid="kid-zzz"))
    assert state.requests == 2


async def test_random_kids_cause_at_most_one_fetch_per_cooldown(verifier, key_a) -> None:
    import asyncio

    v, state, clock = verifier
    other = new_key()
    tokens = [sign(other, kid=secrets.token_hex(8)) for _ in range(100)]
    results = await asyncio.gather(*(v.verify(t) for t in tokens), return_exceptions=True)
    assert all(isinstance(r, Unauthorized) for r in results)
    assert state.requests == 1
    clock.t += 29
    for t in tokens[:10]:
        with pytest.raises(Unauthorized):
            await v.verify(t)
    assert state.requests == 1
    await v.verify(sign(key_a))  # the known key still works from the cache
    assert state.requests == 1
    clock.t += 2  # cooldown over: one more fetch allowed
    with pytest.raises(Unauthorized):
        await v.verify(tokens[0])
    assert state.requests == 2


def test_leeway_capped() -> None:
    with pytest.raises(ValueError):
        JwtVerifier(issuer=ISSUER, audience=AUDIENCE, keys=None, leeway=61)  # type: ignore[arg-type]
