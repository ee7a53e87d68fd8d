"""Tables fed by node agents.

``node_liveness``       one row per node: first/last heartbeat, agent version, resources in use.
``node_uptime_minutes`` one row per (node, Unix minute) with at least one heartbeat: the uptime history
                        (kept for ``node_uptime_window`` seconds).
``workload_states``     the latest state the agent reported per (node, workload id, lease id).
``usage_samples``       one row per workload per heartbeat: cumulative CPU time (integer milliseconds) and
                        RSS bytes (kept for ``node_usage_retention`` seconds; pruned on insert and by the
                        ``workloads.maintain`` scheduler job).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base

# workload states an agent reports (protocol)
W_STARTING = "starting"
W_RUNNING = "running"
W_EXITED = "exited"
W_CRASHED = "crashed"
W_STOPPED = "stopped"
W_REJECTED = "rejected"
WORKLOAD_STATES = (W_STARTING, W_RUNNING, W_EXITED, W_CRASHED, W_STOPPED, W_REJECTED)
FAILED_STATES = frozenset({W_EXITED, W_CRASHED, W_REJECTED, W_STOPPED})


def utcnow() -> datetime:
    return datetime.now(UTC)


class NodeLiveness(Base):
    __tablename__ = "node_liveness"

    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"), primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, index=True)
    agent_version: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    cpu_millicores_used: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    memory_mb_used: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    disk_gb_used: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    heartbeats: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)


class NodeUptimeMinute(Base):
    __tablename__ = "node_uptime_minutes"

    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"), primary_key=True)
    minute: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # Unix seconds // 60


class WorkloadState(Base):
    __tablename__ = "workload_states"
    __table_args__ = (UniqueConstraint("node_id", "workload_id", "lease_id", name="uq_workload_state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    node_id: Mapped[int] = mapped_column(
        ForeignKey("nodes.id", ondelete="CASCADE"), nullable=False, index=True
    )
    deployment_id: Mapped[int] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), nullable=False, index=True
    )
    lease_row_id: Mapped[int] = mapped_column(ForeignKey("leases.id", ondelete="CASCADE"), nullable=False)
    workload_id: Mapped[str] = mapped_column(String(64), nullable=False)
    lease_id: Mapped[str] = mapped_column(String(78), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    restarts: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    exit_code: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)


class UsageSample(Base):
    __tablename__ = "usage_samples"
    __table_args__ = (
        Index("ix_usage_samples_deployment_at", "deployment_id", "at"),
        Index("ix_usage_samples_node_at", "node_id", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"), nullable=False)
    deployment_id: Mapped[int] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), nullable=False
    )
    workload_id: Mapped[str] = mapped_column(String(64), nullable=False)
    replica: Mapped[int] = mapped_column(Integer, nullable=False)
    role: Mapped[str] = mapped_column(String(8), nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    cpu_ms: Mapped[int] = mapped_column(BigInteger, nullable=False)  # cumulative CPU time, milliseconds
    rss_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
