"""Tables of scaling and failover: ``autoscale_policies`` (one per deployment that asked for autoscaling)
and ``failovers`` (one per primary lease taken out of service because its node died).

``failovers.from_lease_row_id`` is UNIQUE: a primary lease can be failed over once, whatever the number
of concurrent or repeated triggers (a flapping node included) — the database refuses a second row.
``transactions`` holds the unsigned txs a wallet-connected payer must sign (close the dead lease, open
the backup's); the SSE stream sends them with the ``failing-over`` transition (``transition_id``).

Failover status: ``closing`` (the dead lease's close is queued / handed out) → ``opening`` (the backup's
open is queued: managed payers, once the close is indexed with its refund) → ``done`` (the backup's
workload reports running) | ``failed`` (nothing left to fund the backup).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base

FO_CLOSING = "closing"
FO_OPENING = "opening"
FO_DONE = "done"
FO_FAILED = "failed"
FO_ACTIVE = (FO_CLOSING, FO_OPENING)


def utcnow() -> datetime:
    return datetime.now(UTC)


class AutoscalePolicyRow(Base):
    __tablename__ = "autoscale_policies"

    deployment_id: Mapped[int] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), primary_key=True
    )
    min_replicas: Mapped[int] = mapped_column(Integer, nullable=False)
    max_replicas: Mapped[int] = mapped_column(Integer, nullable=False)
    cpu_target_bps: Mapped[int] = mapped_column(Integer, nullable=False)  # of the requested cpu
    cooldown_seconds: Mapped[int] = mapped_column(Integer, nullable=False)
    last_scaled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)


class Failover(Base):
    __tablename__ = "failovers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deployment_id: Mapped[int] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), nullable=False, index=True
    )
    replica_index: Mapped[int] = mapped_column(Integer, nullable=False)
    from_lease_row_id: Mapped[int] = mapped_column(
        ForeignKey("leases.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    to_lease_row_id: Mapped[int] = mapped_column(ForeignKey("leases.id", ondelete="CASCADE"), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=FO_CLOSING)
    reason: Mapped[str] = mapped_column(String(200), nullable=False)
    transition_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    transactions: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
