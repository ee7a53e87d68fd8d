"""``managed_wallets``: one server-held key per user, AES-GCM ciphertext only (see engine/wallets/crypto.py).

``key_id`` names the master key that encrypted the row, so keys can be rotated: new rows use the current
key, old rows stay readable while their key is still in the keyring, and a re-encryption job can move them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
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


class WalletHistoryEntry(Base):
    """One row per history item of ``GET /api/wallet/transactions`` (issue 15 §3), read newest first by a
    keyset walk over ``(owner, at, id)`` (:mod:`engine.wallets.history`). ``owner`` is ``u:<user id>``
    (payments and their reversals) or ``w:<address, lower-case>`` (an on-chain credit movement of that
    address: a user's history shows every address the user links now). ``ref`` is the item's id in the API
    (``payment:<ledger id>``, ``reversal:<id>``, ``chain:<block>:<log index>``), unique per owner: writing
    an item twice is a no-op. ``at`` is Unix seconds (the block's timestamp for chain items). Money:
    ``amount_cents`` (cents) and ``credit_units`` (credit units), integers."""

    __tablename__ = "wallet_history"
    __table_args__ = (
        Index("ix_wallet_history_owner_at", "owner", "at", "id"),
        UniqueConstraint("owner", "ref", name="uq_wallet_history_owner_ref"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    owner: Mapped[str] = mapped_column(String(50), nullable=False)
    at: Mapped[int] = mapped_column(BigInteger, nullable=False)
    ref: Mapped[str] = mapped_column(String(100), nullable=False)
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    direction: Mapped[str] = mapped_column(String(3), nullable=False)
    amount_cents: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    credit_units: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    status: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    receipt_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    tx_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    receipt_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    from_address: Mapped[str | None] = mapped_column(String(42), nullable=True)
    to_address: Mapped[str | None] = mapped_column(String(42), nullable=True)
    wallet: Mapped[str | None] = mapped_column(String(42), nullable=True)  # the item's ``wallet`` field
    mint_key: Mapped[str | None] = mapped_column(String(200), nullable=True)  # payment: its mint's outbox key
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # chain items
