"""Scaling and failover: autoscale_policies, failovers.

See engine/scaling/models.py.

Revision ID: 0008_scaling
Revises: 0007_workloads
Create Date: 2025-01-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_scaling"
down_revision: str | None = "0007_workloads"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def _fk(table: str) -> sa.ForeignKey:
    return sa.ForeignKey(f"{table}.id", ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "autoscale_policies",
        sa.Column("deployment_id", sa.Integer(), _fk("deployments"), primary_key=True),
        sa.Column("min_replicas", sa.Integer(), nullable=False),
        sa.Column("max_replicas", sa.Integer(), nullable=False),
        sa.Column("cpu_target_bps", sa.Integer(), nullable=False),
        sa.Column("cooldown_seconds", sa.Integer(), nullable=False),
        sa.Column("last_scaled_at", _TS, nullable=True),
        sa.Column("updated_at", _TS, nullable=False),
    )
    op.create_table(
        "failovers",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("deployment_id", sa.Integer(), _fk("deployments"), nullable=False),
        sa.Column("replica_index", sa.Integer(), nullable=False),
        sa.Column("from_lease_row_id", sa.Integer(), _fk("leases"), nullable=False),
        sa.Column("to_lease_row_id", sa.Integer(), _fk("leases"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("transition_id", sa.BigInteger(), nullable=True),
        sa.Column("transactions", sa.JSON(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.UniqueConstraint("from_lease_row_id"),
    )
    op.create_index("ix_failovers_deployment_id", "failovers", ["deployment_id"])


def downgrade() -> None:
    op.drop_table("failovers")
    op.drop_table("autoscale_policies")
