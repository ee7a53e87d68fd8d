"""Marketplace: node resources/pricing/chain link, maintenance_windows, notifications, provider_requests,
providers (chain mirror), operator_config_versions, operator_audit_log.

See engine/nodes/models.py, engine/providers/models.py, engine/operator/models.py.

Revision ID: 0005_marketplace
Revises: 0004_billing
Create Date: 2025-01-05
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0005_marketplace"
down_revision: str | None = "0004_billing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)

_NODE_COLUMNS: list[sa.Column[Any]] = [
    sa.Column("wallet_address", sa.String(42), nullable=True),
    sa.Column("payee", sa.String(42), nullable=True),
    sa.Column("chain_node_id", sa.BigInteger(), nullable=True),
    sa.Column("add_tx_hash", sa.String(66), nullable=True),
    sa.Column("status", sa.String(16), nullable=False, server_default="pending_chain"),
    sa.Column("cpu_millicores", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("memory_mb", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("disk_gb", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("gpu_model", sa.String(64), nullable=True),
    sa.Column("gpu_count", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("bandwidth_mbps", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("region", sa.String(32), nullable=True),
    sa.Column("country", sa.String(2), nullable=True),
    sa.Column("price_per_cpu_millicore", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("price_per_memory_mb", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("price_per_disk_gb", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("price_per_gpu", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("attributes", sa.JSON(), nullable=False, server_default="[]"),
    sa.Column("certified", sa.Boolean(), nullable=False, server_default=sa.false()),
]


def upgrade() -> None:
    with op.batch_alter_table("nodes") as batch:
        for column in _NODE_COLUMNS:
            batch.add_column(column)
        batch.create_unique_constraint(op.f("uq_nodes_chain_node_id"), ["chain_node_id"])
        batch.create_index(op.f("ix_nodes_wallet_address"), ["wallet_address"])
        batch.create_index(op.f("ix_nodes_region"), ["region"])

    op.create_table(
        "maintenance_windows",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("node_id", sa.Integer(), sa.ForeignKey("nodes.id", ondelete="CASCADE"), nullable=False),
        sa.Column("chain_node_id", sa.BigInteger(), nullable=False),
        sa.Column("start_at", sa.BigInteger(), nullable=False),
        sa.Column("end_at", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.UniqueConstraint("tx_hash", "log_index"),
    )
    op.create_index(op.f("ix_maintenance_windows_node_id"), "maintenance_windows", ["node_id"])
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("dedupe_key", sa.String(128), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("read_at", _TS, nullable=True),
        sa.UniqueConstraint("user_id", "dedupe_key"),
    )
    op.create_index(op.f("ix_notifications_user_id"), "notifications", ["user_id"])
    op.create_table(
        "provider_requests",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("wallet_address", sa.String(42), nullable=False),
        sa.Column("company", sa.String(200), nullable=False),
        sa.Column("contact_name", sa.String(200), nullable=False),
        sa.Column("contact_email", sa.String(320), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("collateral", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decision_reason", sa.String(500), nullable=True),
        sa.Column("decided_by", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("decided_at", _TS, nullable=True),
        sa.Column("outbox_key", sa.String(128), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_index(op.f("ix_provider_requests_user_id"), "provider_requests", ["user_id"])
    op.create_index(op.f("ix_provider_requests_wallet_address"), "provider_requests", ["wallet_address"])
    op.create_table(
        "providers",
        sa.Column("address", sa.String(42), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("collateral", sa.BigInteger(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
    )
    op.create_table(
        "operator_config_versions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column(
            "actor_user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("created_at", _TS, nullable=False),
        sa.UniqueConstraint("kind", "version"),
    )
    op.create_table(
        "operator_audit_log",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "actor_user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_index(op.f("ix_operator_audit_log_kind"), "operator_audit_log", ["kind"])


def downgrade() -> None:
    op.drop_table("operator_audit_log")
    op.drop_table("operator_config_versions")
    op.drop_table("providers")
    op.drop_table("provider_requests")
    op.drop_table("notifications")
    op.drop_table("maintenance_windows")
    with op.batch_alter_table("nodes") as batch:
        batch.drop_index(op.f("ix_nodes_region"))
        batch.drop_index(op.f("ix_nodes_wallet_address"))
        batch.drop_constraint(op.f("uq_nodes_chain_node_id"), type_="unique")
        for column in reversed(_NODE_COLUMNS):
            batch.drop_column(column.name)
