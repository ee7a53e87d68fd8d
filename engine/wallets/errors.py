"""Wallet errors. One root (an :class:`~engine.errors.EngineError`), data on attributes and in ``details``.

::

    WalletError                                        .code                    status
    ├── ManagedWalletMissing  (.user_id)               managed_wallet_missing   404
    ├── InvalidCursor                                  invalid_cursor           400 (a history cursor)
    └── WalletCryptoError                              wallet_crypto_error      500 (never shows key data)
        ├── MasterKeyError    (.reason)                master_key_invalid
        ├── DecryptionFailed  (.key_id, .user_id)      decryption_failed
        └── UnknownKeyId      (.key_id)                unknown_key_id
"""

from __future__ import annotations

from engine.errors import EngineError, Kind


class WalletError(EngineError):
    """Root of the wallets room's errors."""

    code = "wallet_error"
    kind = Kind.INTERNAL


class ManagedWalletMissing(WalletError):
    code = "managed_wallet_missing"
    kind = Kind.NOT_FOUND

    def __init__(self, user_id: int) -> None:
        super().__init__(f"user {user_id} has no managed wallet", details={"user_id": user_id})
        self.user_id = user_id


class InvalidCursor(WalletError):
    code = "invalid_cursor"
    kind = Kind.INVALID

    def __init__(self) -> None:
        super().__init__("invalid cursor")


class WalletCryptoError(WalletError):
    """Root of wallet crypto errors (a broken key or ciphertext is our problem: 500, message hidden)."""

    code = "wallet_crypto_error"
    kind = Kind.INTERNAL


class MasterKeyError(WalletCryptoError):
    code = "master_key_invalid"

    def __init__(self, reason: str) -> None:
        super().__init__(f"master key: {reason}", details={"reason": reason})
        self.reason = reason


class DecryptionFailed(WalletCryptoError):
    """Wrong key, wrong user/address (AAD) or tampered ciphertext. Carries no key material."""

    code = "decryption_failed"

    def __init__(self, key_id: str, user_id: int) -> None:
        super().__init__(
            f"cannot decrypt managed wallet of user {user_id} with key {key_id}",
            details={"key_id": key_id, "user_id": user_id},
        )
        self.key_id = key_id
        self.user_id = user_id


class UnknownKeyId(WalletCryptoError):
    code = "unknown_key_id"

    def __init__(self, key_id: str) -> None:
        super().__init__(f"master key {key_id!r} is not in the keyring", details={"key_id": key_id})
        self.key_id = key_id
