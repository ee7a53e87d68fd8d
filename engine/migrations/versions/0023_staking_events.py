"""Staking events indexed (issue 13): ``staking_positions`` (one row per staker, derived from the
``StakingTiers`` events) and ``staking_events`` (each ``Staked`` / ``UnstakeRequested`` / ``Withdrawn``).
Platform-token amounts (18 decimals, up to 2**96) are decimal strings: exact on every backend.

Revision ID: 0023_staking_events
Revises: 0022_wallet_history
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023_staking_events"
down_revision: str | None = "0022_wallet_history"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "staking_positions",
        sa.Column("account", sa.String(length=42), nullable=False),
        sa.Column("active", sa.String(length=78), nullable=False),
        sa.Column("cooling", sa.String(length=78), nullable=False),
        sa.Column("cooling_end", sa.BigInteger(), nullable=False),
        sa.Column("locked_until", sa.BigInteger(), nullable=False),
        sa.Column("staked_total", sa.String(length=78), nullable=False),
        sa.Column("withdrawn_total", sa.String(length=78), nullable=False),
        sa.Column("last_block", sa.BigInteger(), nullable=False),
        sa.Column("last_log", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account", name=op.f("pk_staking_positions")),
    )
    op.create_table(
        "staking_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account", sa.String(length=42), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("amount", sa.String(length=78), nullable=False),
        sa.Column("active_after", sa.String(length=78), nullable=True),
        sa.Column("until", sa.BigInteger(), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staking_events")),
        sa.UniqueConstraint(
            "block_number", "log_index", name=op.f("uq_staking_events_block_number_log_index")
        ),
    )
    op.create_index(
        op.f("ix_staking_events_account_block"), "staking_events", ["account", "block_number"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_staking_events_account_block"), table_name="staking_events")
    op.drop_table("staking_events")
    op.drop_table("staking_positions")
