"""SLA tables.

``sla_samples``    one row per check: ``source`` ``heartbeat`` (was the node's last heartbeat at most the
                   operator's ``node_offline_after`` old when the engine looked: a silent node is down) or
                   ``probe`` (a TCP connect to a port the workload declares, ``target`` ``tcp:<port>``).
                   ``lease_row_id`` NULL: a node-level heartbeat sample (the provider's per-node uptime).
                   ``at`` is chain time (Unix seconds: the clock periods, leases and maintenance windows use);
                   ``span`` the seconds one sample stands for (the probe interval when it was taken).
``sla_endpoints``  the host the prober connects to for a node's workloads.
``sla_records``    one row per (lease, period) that missed the target: the measured uptime, the credit,
                   the evidence (canonical JSON; its keccak hash goes on chain with the seizure) and where
                   the seizure and the tenant's credit are in the outbox. Unique (lease_row_id, period_start):
                   two evaluations racing insert one row.

Amounts are credit units (10**-6 credit); uptime and credits in basis points.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base

HEARTBEAT = "heartbeat"
PROBE = "probe"

# record status: the outbox steps of a breach
SEIZING = "seizing"  # seize enqueued (or nothing to seize); the credit waits for it to be final
CREDITING = "crediting"  # escrow topUp(lease, rebate) enqueued
CREDITED = "credited"  # the lease's balance went up by the rebate
PAYING = "paying"  # the lease could not take the top-up (closed, depleted, stopped): token transfer to payer
PAID = "paid"  # the payer's wallet received the rebate
NO_CREDIT = "no_credit"  # breach with a zero rebate (zero charge or a 0 bps band): nothing to move
FAILED = "failed"  # neither the top-up nor the transfer went through (operator attention)
RECORD_STATUSES = (SEIZING, CREDITING, CREDITED, PAYING, PAID, NO_CREDIT, FAILED)
OPEN_STATUSES = (SEIZING, CREDITING, PAYING)


def utcnow() -> datetime:
    return datetime.now(UTC)


class SlaSample(Base):
    __tablename__ = "sla_samples"
    __table_args__ = (
        Index("ix_sla_samples_lease_at", "lease_row_id", "at"),
        Index("ix_sla_samples_node_at", "node_id", "at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"), nullable=False)
    lease_row_id: Mapped[int | None] = mapped_column(
        ForeignKey("leases.id", ondelete="CASCADE"), nullable=True
    )
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    target: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    at: Mapped[int] = mapped_column(BigInteger, nullable=False)
    span: Mapped[int] = mapped_column(Integer, nullable=False)
    ok: Mapped[bool] = mapped_column(Boolean, nullable=False)
    detail: Mapped[str] = mapped_column(String(120), nullable=False, default="")


class SlaEndpoint(Base):
    __tablename__ = "sla_endpoints"

    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"), primary_key=True)
    host: Mapped[str] = mapped_column(String(253), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)


class SlaRecord(Base):
    __tablename__ = "sla_records"
    __table_args__ = (UniqueConstraint("lease_row_id", "period_start", name="uq_sla_record_lease_period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    lease_row_id: Mapped[int] = mapped_column(ForeignKey("leases.id", ondelete="CASCADE"), nullable=False)
    chain_lease_id: Mapped[str] = mapped_column(String(78), nullable=False)
    deployment_id: Mapped[int] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), nullable=False, index=True
    )
    node_id: Mapped[int] = mapped_column(
        ForeignKey("nodes.id", ondelete="CASCADE"), nullable=False, index=True
    )
    provider: Mapped[str] = mapped_column(String(42), nullable=False, index=True)  # EIP-55
    payer: Mapped[str] = mapped_column(String(42), nullable=False)  # EIP-55
    period_start: Mapped[int] = mapped_column(BigInteger, nullable=False)
    period_end: Mapped[int] = mapped_column(BigInteger, nullable=False)
    uptime_bps: Mapped[int] = mapped_column(Integer, nullable=False)
    target_bps: Mapped[int] = mapped_column(Integer, nullable=False)
    credit_bps: Mapped[int] = mapped_column(Integer, nullable=False)
    charge: Mapped[int] = mapped_column(BigInteger, nullable=False)  # rate x seconds sampled in the period
    rebate: Mapped[int] = mapped_column(BigInteger, nullable=False)  # credited to the tenant
    seized: Mapped[int] = mapped_column(BigInteger, nullable=False)  # taken from the provider's collateral
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    evidence_hash: Mapped[str] = mapped_column(String(66), nullable=False)
    ref: Mapped[str] = mapped_column(String(66), nullable=False, unique=True)  # the seize ref on chain
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=SEIZING, index=True)
    seize_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    credit_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    pay_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
