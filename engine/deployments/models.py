"""Deployment tables: ``deployments`` (one per user request), ``leases`` (one per replica: the on-chain
escrow lease it is funded by), ``deployment_transitions`` (every status change, streamed by the next
issue) and ``escrow_requests`` (managed wallets' signed escrow requests, relayed one at a time per payer).

Deployment status machine (see :mod:`engine.deployments.services`)::

    funding ──(every primary lease opened on chain)──> starting
    funding ──(close before any lease opened)────────> closed
    funding | starting ──(close requested)──────────> closing ──(every open lease closed)──> closed
    starting ──(every lease closed on chain, e.g. ran dry and was settled)──────────────────> closed

Lease status: ``awaiting_funds`` (unsigned open handed out or request queued) → ``open`` (LeaseOpened
indexed) → ``closed`` (LeaseClosed indexed); ``cancelled`` when the deployment closes before it opened;
``reserved`` for the backup VM (its lease is opened by failover). A lease opened on chain after its
deployment ended is ``retiring`` (managed payer: the engine closes it) or ``orphaned`` (wallet-connected
payer: only the payer can close it) until its ``LeaseClosed`` (:mod:`engine.deployments.lifecycle`).

On-chain lease ids are uint256: stored as decimal strings (``String(78)``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base

# deployment status
FUNDING = "funding"
STARTING = "starting"
CLOSING = "closing"
CLOSED = "closed"
EXPIRED = "expired"  # not funded within the reservation TTL (engine.deployments.lifecycle)
ACTIVE_STATUSES = (FUNDING, STARTING, CLOSING)

# lease status
AWAITING_FUNDS = "awaiting_funds"
LEASE_OPEN = "open"
LEASE_CLOSED = "closed"
LEASE_CANCELLED = "cancelled"
RESERVED = "reserved"
RETIRING = "retiring"  # open on chain, taken out of service (scaled down / failed over), being closed
# open on chain for a deployment that had already ended, and the engine cannot close it (a wallet-connected
# payer must sign the close; engine.deployments.lifecycle): never run, the payer is asked to close it
ORPHANED = "orphaned"

PRIMARY = "primary"
BACKUP = "backup"
RETIRED = "retired"  # a lease taken out of service (engine.scaling: scale-down, failover)

# how a deployment is paid
FUNDING_WALLET = "wallet"  # the user's own wallet signs unsigned txs
FUNDING_MANAGED = "managed"  # the engine signs EIP-712 requests with the managed key; outbox relays

# escrow request status / kinds
REQ_QUEUED = "queued"
REQ_SENT = "sent"
REQ_DONE = "done"
REQ_FAILED = "failed"
REQ_OPEN = "open"
REQ_TOP_UP = "top_up"
REQ_CLOSE = "close"


def utcnow() -> datetime:
    return datetime.now(UTC)


class Deployment(Base):
    __tablename__ = "deployments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    spec_hash: Mapped[str] = mapped_column(String(66), nullable=False, index=True)  # 0x + 64 hex
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=FUNDING)
    replicas: Mapped[int] = mapped_column(Integer, nullable=False)
    rate_per_second: Mapped[int] = mapped_column(BigInteger, nullable=False)  # all primaries, credit units
    payer: Mapped[str] = mapped_column(String(42), nullable=False, index=True)  # EIP-55
    funding: Mapped[str] = mapped_column(String(16), nullable=False)  # FUNDING_WALLET | FUNDING_MANAGED
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)


class Lease(Base):
    __tablename__ = "leases"
    __table_args__ = (UniqueConstraint("deployment_id", "replica_index", "role", name="uq_lease_replica"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deployment_id: Mapped[int] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), nullable=False, index=True
    )
    replica_index: Mapped[int] = mapped_column(Integer, nullable=False)
    role: Mapped[str] = mapped_column(String(8), nullable=False)
    node_id: Mapped[int] = mapped_column(
        ForeignKey("nodes.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    chain_node_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    chain_lease_id: Mapped[str | None] = mapped_column(String(78), nullable=True, unique=True)
    rate_per_second: Mapped[int] = mapped_column(BigInteger, nullable=False)  # quoted; chain may discount
    deposit: Mapped[int] = mapped_column(BigInteger, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=AWAITING_FUNDS)
    opened_block: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    closed_block: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    refund: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # a retired lease's replica index while it served (replica_index is then -id, to free the index)
    retired_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # expiry (chain time) of the quote the engine signed for this lease's open (issue 10); an open mined
    # after it is not this lease's (engine.deployments.quotecheck)
    quote_expiry: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # when the lease's node stopped being active on chain (chain time / block; engine.deployments.stops):
    # it accrues nothing more, the engine never tops it up, its replica fails over
    stopped_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    stopped_block: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)


class DeploymentRow(NamedTuple):
    """A ``deployments`` row read with SQLAlchemy Core (the hot list read,
    :func:`engine.deployments.services.own_page`): the columns the API renders, no ORM identity."""

    id: int
    status: str
    spec: dict[str, Any]
    spec_hash: str
    replicas: int
    rate_per_second: int
    payer: str
    funding: str
    created_at: datetime
    updated_at: datetime


class LeaseRow(NamedTuple):
    """A ``leases`` row read with SQLAlchemy Core (see :class:`DeploymentRow`)."""

    id: int
    replica_index: int
    retired_index: int | None
    role: str
    node_id: int
    chain_node_id: int
    chain_lease_id: str | None
    rate_per_second: int
    deposit: int
    status: str
    opened_block: int | None
    closed_block: int | None
    refund: int | None
    quote_expiry: int | None
    stopped_at: int | None
    stopped_block: int | None


class DeploymentTransition(Base):
    __tablename__ = "deployment_transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deployment_id: Mapped[int] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), nullable=False, index=True
    )
    from_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_status: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str] = mapped_column(String(200), nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    # unsigned transactions the payer is asked to sign with this transition (UnsignedTx.to_json), if any
    transactions: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)


class EscrowRequest(Base):
    """A managed payer's escrow operation, signed (EIP-712) only when it is its turn, so that the payer's
    escrow nonces are used strictly in order (the outbox estimates gas against the chain state, where a
    request with a later nonce would revert)."""

    __tablename__ = "escrow_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    payer: Mapped[str] = mapped_column(String(42), nullable=False, index=True)
    deployment_id: Mapped[int] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), nullable=False, index=True
    )
    lease_row_id: Mapped[int] = mapped_column(ForeignKey("leases.id", ondelete="CASCADE"), nullable=False)
    kind: Mapped[str] = mapped_column(String(8), nullable=False)  # REQ_OPEN | REQ_TOP_UP | REQ_CLOSE
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    status: Mapped[str] = mapped_column(String(8), nullable=False, default=REQ_QUEUED)
    nonce: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    outbox_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
