"""Workloads: node_liveness, node_uptime_minutes, workload_states, usage_samples.

See engine/workloads/models.py.

Revision ID: 0007_workloads
Revises: 0006_deployments
Create Date: 2025-01-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_workloads"
down_revision: str | None = "0006_deployments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def _fk(table: str) -> sa.ForeignKey:
    return sa.ForeignKey(f"{table}.id", ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "node_liveness",
        sa.Column("node_id", sa.Integer(), _fk("nodes"), primary_key=True),
        sa.Column("first_seen_at", _TS, nullable=False),
        sa.Column("last_seen_at", _TS, nullable=False),
        sa.Column("agent_version", sa.String(64), nullable=False),
        sa.Column("cpu_millicores_used", sa.BigInteger(), nullable=False),
        sa.Column("memory_mb_used", sa.BigInteger(), nullable=False),
        sa.Column("disk_gb_used", sa.BigInteger(), nullable=False),
        sa.Column("heartbeats", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_node_liveness_last_seen_at", "node_liveness", ["last_seen_at"])
    op.create_table(
        "node_uptime_minutes",
        sa.Column("node_id", sa.Integer(), _fk("nodes"), primary_key=True),
        sa.Column("minute", sa.BigInteger(), primary_key=True),
    )
    op.create_table(
        "workload_states",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("node_id", sa.Integer(), _fk("nodes"), nullable=False),
        sa.Column("deployment_id", sa.Integer(), _fk("deployments"), nullable=False),
        sa.Column("lease_row_id", sa.Integer(), _fk("leases"), nullable=False),
        sa.Column("workload_id", sa.String(64), nullable=False),
        sa.Column("lease_id", sa.String(78), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("restarts", sa.BigInteger(), nullable=False),
        sa.Column("exit_code", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.Column("updated_at", _TS, nullable=False),
        sa.UniqueConstraint("node_id", "workload_id", "lease_id", name="uq_workload_state"),
    )
    op.create_index("ix_workload_states_node_id", "workload_states", ["node_id"])
    op.create_index("ix_workload_states_deployment_id", "workload_states", ["deployment_id"])
    op.create_table(
        "usage_samples",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("node_id", sa.Integer(), _fk("nodes"), nullable=False),
        sa.Column("deployment_id", sa.Integer(), _fk("deployments"), nullable=False),
        sa.Column("workload_id", sa.String(64), nullable=False),
        sa.Column("replica", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(8), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("cpu_ms", sa.BigInteger(), nullable=False),
        sa.Column("rss_bytes", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_usage_samples_deployment_at", "usage_samples", ["deployment_id", "at"])
    op.create_index("ix_usage_samples_node_at", "usage_samples", ["node_id", "at"])


def downgrade() -> None:
    op.drop_table("usage_samples")
    op.drop_table("workload_states")
    op.drop_table("node_uptime_minutes")
    op.drop_table("node_liveness")
