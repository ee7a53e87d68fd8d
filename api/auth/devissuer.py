"""The dev token issuer: an RSA key in the data dir, trusted only when ``env=dev``.

``cloudmarket dev token --role cloud-user [--sub ...]`` calls :func:`mint_dev_token`. The service serves
the public key at ``GET /api/auth/dev/jwks.json`` (for other tools) and verifies dev tokens against the key
file directly. Production refuses to start with the dev issuer enabled (:func:`check_dev_issuer_allowed`).
Dev tokens look like the tenant's: RS256, ``kid``, ``iss``/``aud``/``exp``/``sub``, roles in the configured
claim, so the same verifier code checks both.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from api.auth.errors import AuthConfigError
from api.auth.jwt import ALGORITHM, JwtVerifier, StaticKeys
from api.auth.principal import KNOWN_ROLES

DEV_ISSUER = "https://dev-issuer.cloudmarket.invalid/"
DEV_AUDIENCE = "cloudmarket-dev"
KEY_FILE = "dev-issuer-key.pem"
DEFAULT_SUB = "dev|local-user"


def check_dev_issuer_allowed(env: str, enabled: bool) -> None:
    """Refuse the dev issuer outside ``env=dev`` (call at start-up)."""
    if enabled and env != "dev":
        raise AuthConfigError("auth_dev_issuer", f"the dev issuer is refused when env={env!r}")


def _load_or_create_key(data_dir: Path) -> rsa.RSAPrivateKey:
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first; use theirs
            pass
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise AuthConfigError("auth_dev_issuer", f"{path} is not an RSA key")
    return loaded


class DevIssuer:
    def __init__(self, data_dir: Path) -> None:
        self._key = _load_or_create_key(data_dir)
        public = self._key.public_key()
        jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(public))
        # RFC 7638 thumbprint as the key id
        canon = json.dumps({"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"))
        self.kid = base64.urlsafe_b64encode(hashlib.sha256(canon.encode()).digest()).rstrip(b"=").decode()
        self._jwk = {**jwk, "kid": self.kid, "use": "sig", "alg": ALGORITHM}
        self._public = public

    def __repr__(self) -> str:
        return f"DevIssuer(kid={self.kid!r})"

    def jwks(self) -> dict[str, Any]:
        return {"keys": [dict(self._jwk)]}

    def mint(
        self,
        roles: Iterable[str],
        sub: str = DEFAULT_SUB,
        ttl: int = 3600,
        *,
        roles_claim: str = "permissions",
        now: float | None = None,
    ) -> str:
        role_list = sorted(set(roles))
        unknown = set(role_list) - KNOWN_ROLES
        if unknown:
            raise ValueError(f"unknown roles: {sorted(unknown)}")
        iat = int(time.time() if now is None else now)
        claims = {
            "iss": DEV_ISSUER,
            "aud": DEV_AUDIENCE,
            "sub": sub,
            "iat": iat,
            "exp": iat + ttl,
            "jti": uuid.uuid4().hex,
            roles_claim: role_list,
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self.kid})

    def sign(self, claims: dict[str, Any]) -> str:
        """Sign arbitrary claims with the dev key (the dev OpenID Connect ``id_token``)."""
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self.kid})

    def verifier(self, roles_claim: str = "permissions", leeway: int = 30) -> JwtVerifier:
        return JwtVerifier(
            issuer=DEV_ISSUER,
            audience=DEV_AUDIENCE,
            keys=StaticKeys({self.kid: self._public}),
            roles_claim=roles_claim,
            leeway=leeway,
        )


def mint_dev_token(
    data_dir: Path,
    roles: str | Iterable[str],
    sub: str = DEFAULT_SUB,
    ttl: int = 3600,
    *,
    roles_claim: str = "permissions",
) -> str:
    """A dev access token (for ``cloudmarket dev token``). Creates the dev key on first use."""
    role_iter = [roles] if isinstance(roles, str) else list(roles)
    return DevIssuer(data_dir).mint(role_iter, sub, ttl, roles_claim=roles_claim)
