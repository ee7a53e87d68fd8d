"""``managed_wallets``: one server-held key per user, AES-GCM ciphertext only (see engine/wallets/crypto.py).

``key_id`` names the master key that encrypted the row, so keys can be rotated: new rows use the current
key, old rows stay readable while their key is still in the keyring, and a re-encryption job can move them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base


def utcnow() -> datetime:
    return datetime.now(UTC)


class ManagedWallet(Base):
    __tablename__ = "managed_wallets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    address: Mapped[str] = mapped_column(String(42), nullable=False, unique=True)  # EIP-55
    key_id: Mapped[str] = mapped_column(String(64), nullable=False)
    nonce: Mapped[bytes] = mapped_column(LargeBinary(12), nullable=False)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)

    def __repr__(self) -> str:  # never show key material, even encrypted
        return (
            f"ManagedWallet(id={self.id!r}, user_id={self.user_id!r}, address={self.address!r}, "
            f"key_id={self.key_id!r}, ciphertext=<redacted>)"
        )
