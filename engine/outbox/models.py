"""Outbox tables: one row per chain write, its signed attempts, and the per-signer nonce counter.

Units and storage choices (documented once, here):

* ``value`` is wei and may exceed 2**63, so it is stored as a **decimal string** (``WeiString``, a
  ``String(78)`` column that reads and writes Python ``int``). SQLite's NUMERIC affinity would silently
  turn large numbers into floats; a string round-trips exactly on both SQLite and PostgreSQL.
* gas, fees per gas, nonces and block numbers fit in 63 bits on every real network and are
  ``BigInteger`` (fees are capped by the sender's ``max_fee_cap``).
* hashes and addresses are 0x-prefixed lower-case hex strings; calldata and raw transactions are bytes.

Status machine (:class:`OutboxStatus`)::

    pending ──sign──▶ signed ──send──▶ broadcast ──receipt──▶ mined ──N confirmations──▶ confirmed
       │                                  ▲                     │                          │
       └─estimate reverts─▶ failed        └──── reorg removed the block (re-broadcast) ────┘
                                                        mined with receipt status 0, N confirmations ─▶ failed
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Enum,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from engine.db import Base


def utcnow() -> datetime:
    return datetime.now(UTC)


class WeiString(TypeDecorator[int]):
    """A non-negative integer amount (wei) stored as its decimal string; exact on every backend."""

    impl = String(78)
    cache_ok = True

    def process_bind_param(self, value: int | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"wei amount must be a non-negative int, got {value!r}")
        return str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        return None if value is None else int(value)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both backends (SQLite drops tzinfo; we put it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"  # enqueued, no nonce yet
    SIGNED = "signed"  # nonce taken, signed raw tx stored and committed, maybe not yet sent
    BROADCAST = "broadcast"  # sent (or re-sent) to the node, no receipt yet
    MINED = "mined"  # receipt seen, fewer than N confirmations
    CONFIRMED = "confirmed"  # receipt status 1 with N confirmations: done
    FAILED = "failed"  # estimate reverted (no nonce used) or mined with status 0 and confirmed

    @property
    def is_final(self) -> bool:
        return self in (OutboxStatus.CONFIRMED, OutboxStatus.FAILED)


class OutboxTx(Base):
    __tablename__ = "outbox_tx"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(64))
    args: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    to_address: Mapped[str | None] = mapped_column(String(42))  # None: contract creation
    data: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    value: Mapped[int] = mapped_column(WeiString, default=0)  # wei, decimal string in the DB
    status: Mapped[OutboxStatus] = mapped_column(
        Enum(OutboxStatus, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]),
        default=OutboxStatus.PENDING,
        index=True,
    )
    # assigned by the sender
    from_address: Mapped[str | None] = mapped_column(String(42))
    chain_id: Mapped[int | None] = mapped_column(BigInteger)
    nonce: Mapped[int | None] = mapped_column(BigInteger)
    gas: Mapped[int | None] = mapped_column(BigInteger)
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # the attempt that was mined
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    block_hash: Mapped[str | None] = mapped_column(String(66))
    receipt_status: Mapped[int | None] = mapped_column(Integer)
    gas_used: Mapped[int | None] = mapped_column(BigInteger)
    # timestamps
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    signed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    broadcast_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    mined_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    failed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    attempts: Mapped[list[OutboxAttempt]] = relationship(
        back_populates="outbox", order_by="OutboxAttempt.id", lazy="raise"
    )

    def __repr__(self) -> str:
        return (
            f"OutboxTx(id={self.id}, key={self.idempotency_key!r}, status={self.status}, nonce={self.nonce})"
        )


class OutboxAttempt(Base):
    """One signed transaction for an outbox row. Replacements add attempts at the same nonce."""

    __tablename__ = "outbox_attempt"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox_tx.id", ondelete="CASCADE"), index=True)
    tx_hash: Mapped[str] = mapped_column(String(66), unique=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    nonce: Mapped[int] = mapped_column(BigInteger)
    gas: Mapped[int] = mapped_column(BigInteger)
    max_fee_per_gas: Mapped[int] = mapped_column(BigInteger)
    max_priority_fee_per_gas: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    outbox: Mapped[OutboxTx] = relationship(back_populates="attempts", lazy="raise")


class SignerNonce(Base):
    """The next nonce the sender hands out for ``address`` on ``chain_id``; locked while allocating."""

    __tablename__ = "outbox_signer_nonce"
    __table_args__ = (UniqueConstraint("address", "chain_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    address: Mapped[str] = mapped_column(String(42))
    chain_id: Mapped[int] = mapped_column(BigInteger)
    next_nonce: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
