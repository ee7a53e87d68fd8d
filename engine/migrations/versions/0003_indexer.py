"""Chain event indexer: chain_blocks, chain_events, chain_event_accounts, indexer_cursor.

See engine/indexer/models.py (ints as decimal strings inside the JSON args; lower-case hex hashes).

Revision ID: 0003_indexer
Revises: 0002_identity
Create Date: 2025-01-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_indexer"
down_revision: str | None = "0002_identity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "chain_blocks",
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(66), nullable=False),
        sa.Column("parent_hash", sa.String(66), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "number", name=op.f("pk_chain_blocks")),
    )
    op.create_table(
        "chain_events",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(66), nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=False),
        sa.Column("tx_index", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.Column("contract", sa.String(64), nullable=False),
        sa.Column("address", sa.String(42), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("ref", sa.String(66), nullable=True),
        sa.Column("indexed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chain_events")),
        sa.UniqueConstraint(
            "chain_id", "tx_hash", "log_index", name=op.f("uq_chain_events_chain_id_tx_hash_log_index")
        ),
    )
    op.create_index(
        "ix_chain_events_chain_id_block_number", "chain_events", ["chain_id", "block_number", "log_index"]
    )
    op.create_index("ix_chain_events_chain_id_ref", "chain_events", ["chain_id", "ref"])
    op.create_table(
        "chain_event_accounts",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("event_id", _ID, nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("account", sa.String(42), nullable=False),
        sa.Column("roles", sa.String(200), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["chain_events.id"],
            ondelete="CASCADE",
            name=op.f("fk_chain_event_accounts_event_id_chain_events"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chain_event_accounts")),
        sa.UniqueConstraint("event_id", "account", name=op.f("uq_chain_event_accounts_event_id_account")),
    )
    op.create_index(
        "ix_chain_event_accounts_lookup",
        "chain_event_accounts",
        ["chain_id", "account", "block_number", "log_index"],
    )
    op.create_table(
        "indexer_cursor",
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(66), nullable=False),
        sa.Column("final_block", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", name=op.f("pk_indexer_cursor")),
    )


def downgrade() -> None:
    op.drop_table("indexer_cursor")
    op.drop_index("ix_chain_event_accounts_lookup", table_name="chain_event_accounts")
    op.drop_table("chain_event_accounts")
    op.drop_index("ix_chain_events_chain_id_ref", table_name="chain_events")
    op.drop_index("ix_chain_events_chain_id_block_number", table_name="chain_events")
    op.drop_table("chain_events")
    op.drop_table("chain_blocks")
