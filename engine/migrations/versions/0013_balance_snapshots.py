"""Balance monitoring (issue 12): ``balance_snapshots``, one row per watched account per scan, downsampled
by age (raw -> hour -> day; see engine/monitoring/models.py).

Revision ID: 0013_balance_snapshots
Revises: 0012_notifications
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_balance_snapshots"
down_revision: str | None = "0012_notifications"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "balance_snapshots",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("resolution", sa.String(length=8), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("block", sa.BigInteger(), nullable=False),
        sa.Column("credit_units", sa.BigInteger(), nullable=False),
        sa.Column("lease_units", sa.BigInteger(), nullable=False),
        sa.Column("native_wei", sa.String(length=78), nullable=False),
        sa.Column("burn_rate_per_second", sa.BigInteger(), nullable=False),
        sa.Column("runway_seconds", sa.BigInteger(), nullable=True),
        sa.Column("deployments", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_balance_snapshots_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_balance_snapshots")),
        sa.UniqueConstraint(
            "user_id", "resolution", "at", name=op.f("uq_balance_snapshots_user_id_resolution_at")
        ),
    )
    op.create_index("ix_balance_snapshots_user_at", "balance_snapshots", ["user_id", "at"], unique=False)
    op.create_index(
        "ix_balance_snapshots_resolution_at", "balance_snapshots", ["resolution", "at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_balance_snapshots_resolution_at", table_name="balance_snapshots")
    op.drop_index("ix_balance_snapshots_user_at", table_name="balance_snapshots")
    op.drop_table("balance_snapshots")
