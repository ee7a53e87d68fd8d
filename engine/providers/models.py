"""``provider_requests`` (what a provider asked, what the operator decided) and ``providers`` (the
registry's view of each provider address, mirrored from indexed events; the chain is the truth)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base

REQUEST_PENDING = "pending"
REQUEST_APPROVED = "approved"  # approveProvider enqueued in the outbox
REQUEST_REJECTED = "rejected"

CHAIN_NONE = "None"  # the names of IProviderRegistry.ProviderStatus


def utcnow() -> datetime:
    return datetime.now(UTC)


class ProviderRequest(Base):
    __tablename__ = "provider_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    wallet_address: Mapped[str] = mapped_column(String(42), nullable=False, index=True)  # EIP-55
    company: Mapped[str] = mapped_column(String(200), nullable=False)
    contact_name: Mapped[str] = mapped_column(String(200), nullable=False)
    contact_email: Mapped[str] = mapped_column(String(320), nullable=False)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    collateral: Mapped[int] = mapped_column(BigInteger, nullable=False)  # credit units
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=REQUEST_PENDING)
    decision_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    outbox_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)


class ProviderChainState(Base):
    """Last known registry state of a provider address; ``block_number``/``log_index`` is the position of
    the last event applied (older or equal events are skipped, so replays are harmless)."""

    __tablename__ = "providers"

    address: Mapped[str] = mapped_column(String(42), primary_key=True)  # EIP-55
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=CHAIN_NONE)
    collateral: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    block_number: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    log_index: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)


CLAIM_OPEN = "open"
CLAIM_RESOLVED = "resolved"


class ProviderClaim(Base):
    """An SLA claim filed against a provider on chain (``ClaimFiled``), until resolved (``ClaimResolved``:
    seized or dismissed). While any is open the registry refuses the provider's collateral withdrawal."""

    __tablename__ = "provider_claims"

    ref: Mapped[str] = mapped_column(String(66), primary_key=True)  # 0x + 64 hex
    provider: Mapped[str] = mapped_column(String(42), nullable=False, index=True)  # EIP-55
    status: Mapped[str] = mapped_column(String(8), nullable=False, default=CLAIM_OPEN)
    filed_block: Mapped[int] = mapped_column(BigInteger, nullable=False)
    resolved_block: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
