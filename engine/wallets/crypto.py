"""Encryption at rest for managed-wallet keys: AES-256-GCM under a master key.

* The master key is 32 bytes. In production it comes from config (``CLOUDMARKET_MASTER_KEY``: 64 hex
  characters or URL-safe base64, optionally prefixed ``<key id>:``). In dev it is generated once in the
  data dir (``master.key``, mode 0600).
* Each ciphertext has a fresh 96-bit random nonce and is bound by AAD to the user id and the address, so a
  ciphertext copied to another user's row fails to decrypt.
* A :class:`Keyring` holds the current key (used for new rows) and older keys by id (still readable), so the
  master key can be rotated.
* Key bytes never appear in ``repr``/``str``; callers must never log :class:`DecryptedKey.secret`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from engine.wallets.errors import DecryptionFailed, MasterKeyError, UnknownKeyId, WalletCryptoError

MASTER_KEY_FILE = "master.key"
KEY_BYTES = 32
NONCE_BYTES = 12
AAD_PREFIX = b"cloudmarket/managed-wallet/v1"

__all__ = [  # the errors live in engine.wallets.errors; re-exported for existing imports
    "DecryptionFailed",
    "Keyring",
    "MasterKey",
    "MasterKeyError",
    "Sealed",
    "UnknownKeyId",
    "WalletCryptoError",
    "load_or_create_dev_master_key",
]


@dataclass(frozen=True)
class MasterKey:
    key_id: str
    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.key) != KEY_BYTES:
            raise MasterKeyError(f"must be {KEY_BYTES} bytes, got {len(self.key)}")

    def __str__(self) -> str:
        return f"MasterKey(key_id={self.key_id!r}, key=<redacted>)"

    @staticmethod
    def derive_id(key: bytes) -> str:
        # A hash of a 256-bit random key reveals nothing usable about it; it only names the key.
        return "k" + hashlib.sha256(b"cloudmarket-master-key-id|" + key).hexdigest()[:12]

    @classmethod
    def parse(cls, text: str) -> MasterKey:
        """``[<id>:]<64 hex chars | urlsafe base64 of 32 bytes>``."""
        text = text.strip()
        key_id: str | None = None
        if ":" in text:
            key_id, text = text.split(":", 1)
            if not key_id:
                raise MasterKeyError("empty key id")
        raw: bytes | None = None
        if len(text) == 2 * KEY_BYTES:
            try:
                raw = bytes.fromhex(text)
            except ValueError:
                raw = None
        if raw is None:
            try:
                raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            except (binascii.Error, ValueError) as exc:
                raise MasterKeyError("neither hex nor base64") from exc
        if len(raw) != KEY_BYTES:
            raise MasterKeyError(f"must decode to {KEY_BYTES} bytes, got {len(raw)}")
        return cls(key_id or cls.derive_id(raw), raw)


def load_or_create_dev_master_key(data_dir: Path) -> MasterKey:
    """Dev only: the master key in ``<data_dir>/master.key`` (created with mode 0600 when missing)."""
    path = data_dir / MASTER_KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_bytes(KEY_BYTES).hex() + "\n")
    return MasterKey.parse(path.read_text())


def _aad(user_id: int, address: str) -> bytes:
    return b"|".join((AAD_PREFIX, str(user_id).encode(), address.encode()))


@dataclass(frozen=True)
class Sealed:
    key_id: str
    nonce: bytes
    ciphertext: bytes = field(repr=False)


class Keyring:
    """The current master key plus retired keys that may still decrypt old rows."""

    def __init__(self, current: MasterKey, retired: tuple[MasterKey, ...] = ()) -> None:
        self.current = current
        self._by_id = {k.key_id: k for k in (*retired, current)}

    def __repr__(self) -> str:
        return f"Keyring(current={self.current.key_id!r}, keys={sorted(self._by_id)!r})"

    def seal(self, secret: bytes, *, user_id: int, address: str) -> Sealed:
        nonce = secrets.token_bytes(NONCE_BYTES)
        ct = AESGCM(self.current.key).encrypt(nonce, secret, _aad(user_id, address))
        return Sealed(self.current.key_id, nonce, ct)

    def open(self, sealed: Sealed, *, user_id: int, address: str) -> bytes:
        key = self._by_id.get(sealed.key_id)
        if key is None:
            raise UnknownKeyId(sealed.key_id)
        try:
            return AESGCM(key.key).decrypt(sealed.nonce, sealed.ciphertext, _aad(user_id, address))
        except InvalidTag as exc:
            raise DecryptionFailed(sealed.key_id, user_id) from exc
