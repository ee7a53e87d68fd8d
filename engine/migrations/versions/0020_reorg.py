"""Reorg-safe consumers (issue 13): ``chain_undo``, the undo journal of what indexer subscribers changed
per event, reverted by the indexer's rollback (see engine/indexer/undo.py).

Revision ID: 0020_reorg
Revises: 0018_alliances
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_reorg"
down_revision: str | None = "0018_alliances"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "chain_undo",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.Column("op", sa.String(length=8), nullable=False),
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("key", sa.JSON(), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chain_undo")),
    )
    op.create_index("ix_chain_undo_chain_id_block_number", "chain_undo", ["chain_id", "block_number"])


def downgrade() -> None:
    op.drop_index("ix_chain_undo_chain_id_block_number", table_name="chain_undo")
    op.drop_table("chain_undo")
