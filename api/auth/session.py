"""The service's own short-lived session tokens for wallet (SIWE) sign-ins.

Kept strictly apart from Auth0 tokens: HS256 with a 32-byte server secret (``session.key`` in the data dir,
mode 0600, or derived from the master key), header ``typ`` :data:`TOKEN_TYPE`, its own issuer and audience.
The Auth0/dev verifier pins RS256, so a session token is rejected there; this verifier pins HS256 and its
issuer, so an Auth0 token (RS256) is rejected here. Role: always ``cloud-user``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from api.auth.errors import Unauthorized

ISSUER = "cloudmarket:siwe-session"
AUDIENCE = "cloudmarket:siwe-session"
TOKEN_TYPE = "cm-session+jwt"  # noqa: S105 - a JWT "typ" value, not a secret
ALGORITHM = "HS256"
SECRET_FILE = "session.key"  # noqa: S105 - a file name
DEFAULT_TTL = 3600


def load_or_create_session_secret(data_dir: Path) -> bytes:
    path = data_dir / SECRET_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32) + "\n")
    return bytes.fromhex(path.read_text().strip())


def derive_session_secret(master_key: bytes) -> bytes:
    """A session secret bound to the master key (so every API process agrees without a shared file)."""
    return hmac.new(master_key, b"cloudmarket/siwe-session/v1", hashlib.sha256).digest()


@dataclass(frozen=True)
class SessionClaims:
    user_id: int
    sub: str
    address: str
    expires_at: float = 0.0  # the token's ``exp`` (seconds since the epoch)


class SessionTokens:
    def __init__(
        self, secret: bytes, *, ttl: int = DEFAULT_TTL, clock: Callable[[], float] = time.time
    ) -> None:
        if len(secret) < 32:
            raise ValueError("session secret must be at least 32 bytes")
        self._secret = secret
        self.ttl = ttl
        self.clock = clock

    def __repr__(self) -> str:
        return f"SessionTokens(ttl={self.ttl}, secret=<redacted>)"

    def issue(self, user_id: int, sub: str, address: str) -> str:
        now = int(self.clock())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": sub,
            "uid": user_id,
            "addr": address,
            "iat": now,
            "exp": now + self.ttl,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM, headers={"typ": TOKEN_TYPE})

    @staticmethod
    def is_session_token(token: str) -> bool:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return False
        return header.get("typ") == TOKEN_TYPE

    def verify(self, token: str) -> SessionClaims:
        try:
            header = jwt.get_unverified_header(token)
            if header.get("typ") != TOKEN_TYPE or header.get("alg") != ALGORITHM:
                raise Unauthorized("not a session token")
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=5,
                options={"require": ["exp", "iss", "aud", "sub", "iat"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("session expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("invalid session token", error=type(exc).__name__) from exc
        uid, addr = claims.get("uid"), claims.get("addr")
        if not isinstance(uid, int) or not isinstance(addr, str):
            raise Unauthorized("invalid session token")
        return SessionClaims(
            user_id=uid, sub=str(claims["sub"]), address=addr, expires_at=float(claims["exp"])
        )
