"""Provider nodes, their maintenance windows, and notifications to tenants.

``nodes`` holds what placement needs (resources, location, unit prices, attributes, bandwidth) and the link
to the chain: ``wallet_address`` is the provider wallet that signs ``addNode``; ``chain_node_id`` is set
when the indexer sees the matching ``NodeAdded`` (see :mod:`engine.nodes.linking`). Integers only: unit
prices are *price units* (``engine.placement.models.PRICE_SCALE`` per credit unit) per resource unit per
second, the same unit as the operator's price floors.

Status: ``pending_chain`` (row created, ``addNode`` not yet seen on chain) -> ``active`` -> ``removed``.
``maintenance_windows`` are recorded from ``MaintenanceScheduled`` events (never from the API request: the
chain decides whether a window exists) and marked cancelled by ``MaintenanceCancelled``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base

# moved to the notifications room (issue 12); re-exported for the rooms that import it from here
from engine.notifications.models import Notification as Notification

NODE_PENDING_CHAIN = "pending_chain"
NODE_ACTIVE = "active"
NODE_REMOVED = "removed"

WINDOW_SCHEDULED = "scheduled"
WINDOW_CANCELLED = "cancelled"


def utcnow() -> datetime:
    return datetime.now(UTC)


class Node(Base):
    __tablename__ = "nodes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider_user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    # chain link
    wallet_address: Mapped[str | None] = mapped_column(String(42), nullable=True, index=True)  # EIP-55
    # before NodeAdded is indexed: the payee asked for (None: the provider wallet); after: the chain's payee
    payee: Mapped[str | None] = mapped_column(String(42), nullable=True)
    chain_node_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True, unique=True)
    add_tx_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=NODE_PENDING_CHAIN)
    # resources (the units of engine.placement.models.Capacity)
    cpu_millicores: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    memory_mb: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    disk_gb: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    gpu_model: Mapped[str | None] = mapped_column(String(64), nullable=True)
    gpu_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    bandwidth_mbps: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    region: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    country: Mapped[str | None] = mapped_column(String(2), nullable=True)
    # price units per resource unit per second
    price_per_cpu_millicore: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    price_per_memory_mb: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    price_per_disk_gb: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    price_per_gpu: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    attributes: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    certified: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class MaintenanceWindow(Base):
    """A window as the chain recorded it. ``start_at``/``end_at`` are Unix seconds, end exclusive."""

    __tablename__ = "maintenance_windows"
    __table_args__ = (UniqueConstraint("tx_hash", "log_index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    node_id: Mapped[int] = mapped_column(
        ForeignKey("nodes.id", ondelete="CASCADE"), nullable=False, index=True
    )
    chain_node_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    start_at: Mapped[int] = mapped_column(BigInteger, nullable=False)
    end_at: Mapped[int] = mapped_column(BigInteger, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=WINDOW_SCHEDULED)
    tx_hash: Mapped[str] = mapped_column(String(66), nullable=False)
    log_index: Mapped[int] = mapped_column(BigInteger, nullable=False)
    block_number: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
