"""The dev issuer (key in the data dir, dev only) and the service's wallet session tokens (kept apart)."""

from __future__ import annotations

import stat
import time

import jwt
import pytest

from api.auth.devissuer import DEV_ISSUER, KEY_FILE, DevIssuer, check_dev_issuer_allowed, mint_dev_token
from api.auth.errors import AuthConfigError, Unauthorized
from api.auth.principal import CLOUD_OPERATOR, CLOUD_USER
from api.auth.session import (
    AUDIENCE,
    ISSUER,
    TOKEN_TYPE,
    SessionTokens,
    derive_session_secret,
    load_or_create_session_secret,
)


async def test_dev_token_roundtrip_and_key_file_private(tmp_path) -> None:
    token = mint_dev_token(tmp_path, [CLOUD_USER, CLOUD_OPERATOR], sub="dev|bob", ttl=60)
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600
    issuer = DevIssuer(tmp_path)  # same key from the file
    out = await issuer.verifier().verify(token)
    assert out.sub == "dev|bob"
    assert out.roles == frozenset({CLOUD_USER, CLOUD_OPERATOR})
    assert issuer.jwks()["keys"][0]["kid"] == jwt.get_unverified_header(token)["kid"]
    assert "d" not in issuer.jwks()["keys"][0]  # public part only


async def test_dev_token_of_another_data_dir_rejected(tmp_path) -> None:
    token = mint_dev_token(tmp_path / "a", CLOUD_USER)
    with pytest.raises(Unauthorized):
        await DevIssuer(tmp_path / "b").verifier().verify(token)


def test_dev_issuer_refused_in_production() -> None:
    check_dev_issuer_allowed("dev", True)
    check_dev_issuer_allowed("production", False)
    with pytest.raises(AuthConfigError):
        check_dev_issuer_allowed("production", True)


def test_unknown_role_refused(tmp_path) -> None:
    with pytest.raises(ValueError):
        mint_dev_token(tmp_path, "root")


def test_session_token_roundtrip(tmp_path) -> None:
    secret = load_or_create_session_secret(tmp_path)
    assert stat.S_IMODE((tmp_path / "session.key").stat().st_mode) == 0o600
    tokens = SessionTokens(secret, ttl=60)
    claims = tokens.verify(tokens.issue(7, "siwe:0xabc", "0xAbc"))
    assert (claims.user_id, claims.sub, claims.address) == (7, "siwe:0xabc", "0xAbc")
    assert "secret" not in repr(tokens) or "<redacted>" in repr(tokens)
    assert secret.hex() not in repr(tokens)


def test_session_token_rejections(tmp_path) -> None:
    tokens = SessionTokens(b"k" * 32, ttl=60)
    other = SessionTokens(b"x" * 32, ttl=60)
    with pytest.raises(Unauthorized):
        tokens.verify(other.issue(1, "s", "0xA"))  # wrong secret
    expired = SessionTokens(b"k" * 32, ttl=60, clock=lambda: time.time() - 3600)
    with pytest.raises(Unauthorized):
        tokens.verify(expired.issue(1, "s", "0xA"))
    # right secret and typ, but claims of another issuer
    forged = jwt.encode(
        {
            "iss": "someone",
            "aud": AUDIENCE,
            "sub": "s",
            "uid": 1,
            "addr": "0xA",
            "iat": int(time.time()),
            "exp": int(time.time()) + 60,
        },
        b"k" * 32,
        algorithm="HS256",
        headers={"typ": TOKEN_TYPE},
    )
    with pytest.raises(Unauthorized):
        tokens.verify(forged)


async def test_session_and_rs256_tokens_cannot_cross(tmp_path) -> None:
    dev = DevIssuer(tmp_path)
    sessions = SessionTokens(derive_session_secret(b"m" * 32))
    with pytest.raises(Unauthorized):  # an RS256 dev token is no session token
        sessions.verify(dev.mint([CLOUD_USER]))
    # a session token dressed up with the dev issuer's iss is still HS256: the RS256 verifier refuses it
    now = int(time.time())
    dressed = jwt.encode(
        {
            "iss": DEV_ISSUER,
            "aud": "cloudmarket-dev",
            "sub": "x",
            "exp": now + 60,
            "permissions": [CLOUD_USER],
        },
        derive_session_secret(b"m" * 32),
        algorithm="HS256",
        headers={"kid": dev.kid},
    )
    with pytest.raises(Unauthorized):
        await dev.verifier().verify(dressed)
    assert ISSUER != DEV_ISSUER
