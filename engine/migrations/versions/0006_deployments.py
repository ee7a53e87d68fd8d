"""Deployments: deployments, leases, deployment_transitions, escrow_requests.

See engine/deployments/models.py.

Revision ID: 0006_deployments
Revises: 0005_marketplace
Create Date: 2025-01-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_deployments"
down_revision: str | None = "0005_marketplace"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("spec_hash", sa.String(66), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("replicas", sa.Integer(), nullable=False),
        sa.Column("rate_per_second", sa.BigInteger(), nullable=False),
        sa.Column("payer", sa.String(42), nullable=False),
        sa.Column("funding", sa.String(16), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
    )
    op.create_index("ix_deployments_user_id", "deployments", ["user_id"])
    op.create_index("ix_deployments_spec_hash", "deployments", ["spec_hash"])
    op.create_index("ix_deployments_payer", "deployments", ["payer"])
    op.create_table(
        "leases",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "deployment_id", sa.Integer(), sa.ForeignKey("deployments.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("replica_index", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(8), nullable=False),
        sa.Column("node_id", sa.Integer(), sa.ForeignKey("nodes.id", ondelete="RESTRICT"), nullable=False),
        sa.Column("chain_node_id", sa.BigInteger(), nullable=False),
        sa.Column("chain_lease_id", sa.String(78), nullable=True, unique=True),
        sa.Column("rate_per_second", sa.BigInteger(), nullable=False),
        sa.Column("deposit", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("opened_block", sa.BigInteger(), nullable=True),
        sa.Column("closed_block", sa.BigInteger(), nullable=True),
        sa.Column("refund", sa.BigInteger(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.UniqueConstraint("deployment_id", "replica_index", "role", name="uq_lease_replica"),
    )
    op.create_index("ix_leases_deployment_id", "leases", ["deployment_id"])
    op.create_index("ix_leases_node_id", "leases", ["node_id"])
    op.create_table(
        "deployment_transitions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "deployment_id", sa.Integer(), sa.ForeignKey("deployments.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("at", _TS, nullable=False),
    )
    op.create_index("ix_deployment_transitions_deployment_id", "deployment_transitions", ["deployment_id"])
    op.create_table(
        "escrow_requests",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("payer", sa.String(42), nullable=False),
        sa.Column(
            "deployment_id", sa.Integer(), sa.ForeignKey("deployments.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "lease_row_id", sa.Integer(), sa.ForeignKey("leases.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=True),
        sa.Column("outbox_key", sa.String(128), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_index("ix_escrow_requests_payer", "escrow_requests", ["payer"])
    op.create_index("ix_escrow_requests_deployment_id", "escrow_requests", ["deployment_id"])


def downgrade() -> None:
    op.drop_table("escrow_requests")
    op.drop_table("deployment_transitions")
    op.drop_table("leases")
    op.drop_table("deployments")
