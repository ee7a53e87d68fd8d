"""Provider alliances (issue 13): ``alliances``, ``alliance_members``, ``alliance_nodes`` (indexed from
``AllianceSplits`` events) and ``alliance_texts`` (names and terms behind their hashes).

Revision ID: 0018_alliances
Revises: 0017_staking
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_alliances"
down_revision: str | None = "0017_staking"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alliances",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("name_hash", sa.String(length=66), nullable=False),
        sa.Column("terms_hash", sa.String(length=66), nullable=False),
        sa.Column("proposer", sa.String(length=42), nullable=False),
        sa.Column("admin", sa.String(length=42), nullable=False),
        sa.Column("notice_period", sa.BigInteger(), nullable=False),
        sa.Column("max_units_per_node", sa.BigInteger(), nullable=False),
        sa.Column("total_shares", sa.BigInteger(), nullable=False),
        sa.Column("received", sa.BigInteger(), nullable=False),
        sa.Column("created_block", sa.BigInteger(), nullable=False),
        sa.Column("last_block", sa.BigInteger(), nullable=False),
        sa.Column("last_log", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alliances")),
    )
    op.create_index(op.f("ix_alliances_admin"), "alliances", ["admin"], unique=False)
    op.create_table(
        "alliance_members",
        sa.Column("alliance_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("account", sa.String(length=42), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("weight", sa.BigInteger(), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("nodes", sa.Integer(), nullable=False),
        sa.Column("leave_at", sa.BigInteger(), nullable=True),
        sa.Column("claimed", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["alliance_id"],
            ["alliances.id"],
            name=op.f("fk_alliance_members_alliance_id_alliances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("alliance_id", "account", name=op.f("pk_alliance_members")),
    )
    op.create_index(op.f("ix_alliance_members_account"), "alliance_members", ["account"], unique=False)
    op.create_table(
        "alliance_nodes",
        sa.Column("chain_node_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("alliance_id", sa.BigInteger(), nullable=False),
        sa.Column("member", sa.String(length=42), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("exit_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["alliance_id"],
            ["alliances.id"],
            name=op.f("fk_alliance_nodes_alliance_id_alliances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("chain_node_id", name=op.f("pk_alliance_nodes")),
    )
    op.create_index(op.f("ix_alliance_nodes_alliance_id"), "alliance_nodes", ["alliance_id"], unique=False)
    op.create_table(
        "alliance_texts",
        sa.Column("hash", sa.String(length=66), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("hash", name=op.f("pk_alliance_texts")),
    )


def downgrade() -> None:
    op.drop_table("alliance_texts")
    op.drop_index(op.f("ix_alliance_nodes_alliance_id"), table_name="alliance_nodes")
    op.drop_table("alliance_nodes")
    op.drop_index(op.f("ix_alliance_members_account"), table_name="alliance_members")
    op.drop_table("alliance_members")
    op.drop_index(op.f("ix_alliances_admin"), table_name="alliances")
    op.drop_table("alliances")
