"""Indexer tables: the last block hashes seen, the decoded events, the accounts they touch, the cursor.

Storage choices (documented once, here):

* block numbers, log indexes and chain ids are ``BigInteger``; hashes and addresses are 0x-prefixed
  **lower-case** hex strings (addresses too, so equality queries need no checksum step).
* decoded event arguments are JSON with every integer as a **decimal string** (uint256 amounts exceed
  what JSON numbers and floats hold exactly), bytes as 0x hex, addresses checksummed.
* ``chain_blocks`` keeps only the last ``reorg_window`` indexed blocks: enough to find a fork point.
* ``chain_event_accounts`` has one row per (event, address argument) so the wallet history of any
  account is an indexed lookup, whatever the event (Transfer from/to, CreditMinted to, ...).
* ``indexer_cursor.final_block``: events at or below it had ``confirmations`` blocks on top when last
  checked; finality is derived from it, never stored per event (so it needs no sweeping updates).
* ``chain_undo`` is the journal of what the subscribers changed per event (:mod:`engine.indexer.undo`):
  the rollback of a reorg reverts the entries above the fork in the same transaction; like
  ``chain_blocks`` only the last ``reorg_window`` blocks are kept.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.db import Base
from engine.outbox.models import UtcDateTime

# SQLite only auto-increments an ``INTEGER PRIMARY KEY``; PostgreSQL gets a 64-bit identity.
EventId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class ChainBlock(Base):
    __tablename__ = "chain_blocks"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[str] = mapped_column(String(66))
    parent_hash: Mapped[str] = mapped_column(String(66))


class ChainEvent(Base):
    __tablename__ = "chain_events"
    __table_args__ = (
        UniqueConstraint("chain_id", "tx_hash", "log_index"),
        Index("ix_chain_events_chain_id_block_number", "chain_id", "block_number", "log_index"),
        Index("ix_chain_events_chain_id_ref", "chain_id", "ref"),
    )

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(String(66))
    tx_hash: Mapped[str] = mapped_column(String(66))
    tx_index: Mapped[int] = mapped_column(BigInteger)
    log_index: Mapped[int] = mapped_column(BigInteger)
    contract: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(42))
    event: Mapped[str] = mapped_column(String(64))
    args: Mapped[dict[str, Any]] = mapped_column(JSON)  # ints as decimal strings
    ref: Mapped[str | None] = mapped_column(String(66))  # a bytes32 reference argument, 0x hex
    indexed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    accounts: Mapped[list[ChainEventAccount]] = relationship(
        back_populates="chain_event", lazy="raise", cascade="all, delete-orphan", passive_deletes=True
    )


class ChainEventAccount(Base):
    """An address that appears in an event's arguments (``roles``: the argument names, comma-joined)."""

    __tablename__ = "chain_event_accounts"
    __table_args__ = (
        UniqueConstraint("event_id", "account"),
        Index("ix_chain_event_accounts_lookup", "chain_id", "account", "block_number", "log_index"),
    )

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("chain_events.id", ondelete="CASCADE"))
    chain_id: Mapped[int] = mapped_column(BigInteger)
    account: Mapped[str] = mapped_column(String(42))
    roles: Mapped[str] = mapped_column(String(200))
    block_number: Mapped[int] = mapped_column(BigInteger)
    log_index: Mapped[int] = mapped_column(BigInteger)

    chain_event: Mapped[ChainEvent] = relationship(back_populates="accounts", lazy="raise")


class IndexerCursor(Base):
    __tablename__ = "indexer_cursor"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger)  # last indexed block
    block_hash: Mapped[str] = mapped_column(String(66))
    final_block: Mapped[int] = mapped_column(BigInteger)  # events at or below it are final
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class ChainUndo(Base):
    """One row change a subscriber made while applying the event at (``block_number``, ``log_index``).

    ``op``: ``insert`` (``key`` names the new row), ``update`` (``before``/``after``: the changed columns'
    values) or ``delete`` (``before``: the whole row). Values are tagged JSON (:mod:`engine.indexer.undo`).
    """

    __tablename__ = "chain_undo"
    __table_args__ = (Index("ix_chain_undo_chain_id_block_number", "chain_id", "block_number"),)

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(String(66))
    log_index: Mapped[int] = mapped_column(BigInteger)
    op: Mapped[str] = mapped_column(String(8))
    table_name: Mapped[str] = mapped_column(String(64))
    key: Mapped[dict[str, Any]] = mapped_column(JSON)  # primary key column -> value
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
