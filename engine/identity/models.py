"""Identity tables: users, wallet links, SIWE nonces, node tokens.

* ``users.sub`` is the stable subject: Auth0's ``sub`` (``auth0|...``), the dev issuer's, or
  ``siwe:<EIP-55 address>`` for a wallet-only user. Unique: the first request of a new ``sub`` creates the
  row (``INSERT .. ON CONFLICT DO NOTHING``, see services.ensure_user).
* ``wallet_links.address`` is EIP-55 checksummed and unique across all users: an address belongs to at
  most one user.
* ``siwe_nonces`` timestamps are integer Unix seconds, not ``DateTime``: the single-use check is an atomic
  ``UPDATE .. WHERE used_at IS NULL`` and integer comparisons behave the same on SQLite and PostgreSQL.
* ``node_tokens.token_hash`` is the hex SHA-256 of the opaque token; the token itself is never stored.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base


def utcnow() -> datetime:
    return datetime.now(UTC)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sub: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)


class WalletLink(Base):
    __tablename__ = "wallet_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    address: Mapped[str] = mapped_column(String(42), nullable=False, unique=True)  # EIP-55
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # "siwe" | "managed"
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)


class SiweNonce(Base):
    __tablename__ = "siwe_nonces"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    issued_at: Mapped[int] = mapped_column(BigInteger, nullable=False)  # unix seconds
    expires_at: Mapped[int] = mapped_column(BigInteger, nullable=False)  # unix seconds
    used_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # unix seconds


class NodeToken(Base):
    __tablename__ = "node_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    node_id: Mapped[int] = mapped_column(
        ForeignKey("nodes.id", ondelete="CASCADE"), nullable=False, index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    # the first characters of the token, shown in lists so a provider can tell tokens apart
    hint: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
