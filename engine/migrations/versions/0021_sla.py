"""SLA monitoring and enforcement (issue 13): ``sla_samples`` (heartbeat and port checks per lease and
node), ``sla_endpoints`` (where the prober connects for a node), ``sla_records`` (one per breached (lease,
period), unique) — see engine/sla/models.py.

Revision ID: 0021_sla
Revises: 0020_reorg
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_sla"
down_revision: str | None = "0020_reorg"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sla_samples",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("lease_row_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=32), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("span", sa.Integer(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(
            ["node_id"], ["nodes.id"], name=op.f("fk_sla_samples_node_id_nodes"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["lease_row_id"],
            ["leases.id"],
            name=op.f("fk_sla_samples_lease_row_id_leases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_samples")),
    )
    op.create_index("ix_sla_samples_lease_at", "sla_samples", ["lease_row_id", "at"])
    op.create_index("ix_sla_samples_node_at", "sla_samples", ["node_id", "at"])
    op.create_table(
        "sla_endpoints",
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=253), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["node_id"], ["nodes.id"], name=op.f("fk_sla_endpoints_node_id_nodes"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("node_id", name=op.f("pk_sla_endpoints")),
    )
    op.create_table(
        "sla_records",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("lease_row_id", sa.Integer(), nullable=False),
        sa.Column("chain_lease_id", sa.String(length=78), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=42), nullable=False),
        sa.Column("payer", sa.String(length=42), nullable=False),
        sa.Column("period_start", sa.BigInteger(), nullable=False),
        sa.Column("period_end", sa.BigInteger(), nullable=False),
        sa.Column("uptime_bps", sa.Integer(), nullable=False),
        sa.Column("target_bps", sa.Integer(), nullable=False),
        sa.Column("credit_bps", sa.Integer(), nullable=False),
        sa.Column("charge", sa.BigInteger(), nullable=False),
        sa.Column("rebate", sa.BigInteger(), nullable=False),
        sa.Column("seized", sa.BigInteger(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("evidence_hash", sa.String(length=66), nullable=False),
        sa.Column("ref", sa.String(length=66), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("seize_key", sa.String(length=200), nullable=True),
        sa.Column("credit_key", sa.String(length=200), nullable=True),
        sa.Column("pay_key", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["lease_row_id"],
            ["leases.id"],
            name=op.f("fk_sla_records_lease_row_id_leases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_sla_records_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["node_id"], ["nodes.id"], name=op.f("fk_sla_records_node_id_nodes"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_records")),
        sa.UniqueConstraint("lease_row_id", "period_start", name="uq_sla_record_lease_period"),
        sa.UniqueConstraint("ref", name=op.f("uq_sla_records_ref")),
    )
    op.create_index(op.f("ix_sla_records_deployment_id"), "sla_records", ["deployment_id"])
    op.create_index(op.f("ix_sla_records_node_id"), "sla_records", ["node_id"])
    op.create_index(op.f("ix_sla_records_provider"), "sla_records", ["provider"])
    op.create_index(op.f("ix_sla_records_status"), "sla_records", ["status"])


def downgrade() -> None:
    op.drop_table("sla_records")
    op.drop_table("sla_endpoints")
    op.drop_index("ix_sla_samples_node_at", table_name="sla_samples")
    op.drop_index("ix_sla_samples_lease_at", table_name="sla_samples")
    op.drop_table("sla_samples")
