"""Identity: users, wallet_links, siwe_nonces, nodes (minimal), node_tokens, managed_wallets.

See engine/identity/models.py, engine/nodes/models.py, engine/wallets/models.py.

Revision ID: 0002_identity
Revises: 0001_outbox
Create Date: 2025-01-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_identity"
down_revision: str | None = "0001_outbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("sub", sa.String(255), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("settings", sa.JSON(), nullable=False),
        _ts("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("sub", name=op.f("uq_users_sub")),
    )
    op.create_table(
        "wallet_links",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(42), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        _ts("created_at", nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], ondelete="CASCADE", name=op.f("fk_wallet_links_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_links")),
        sa.UniqueConstraint("address", name=op.f("uq_wallet_links_address")),
    )
    op.create_index(op.f("ix_wallet_links_user_id"), "wallet_links", ["user_id"])
    op.create_table(
        "siwe_nonces",
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("issued_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("used_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_siwe_nonces")),
    )
    op.create_table(
        "nodes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("provider_user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        _ts("created_at", nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_user_id"],
            ["users.id"],
            ondelete="CASCADE",
            name=op.f("fk_nodes_provider_user_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nodes")),
    )
    op.create_index(op.f("ix_nodes_provider_user_id"), "nodes", ["provider_user_id"])
    op.create_table(
        "node_tokens",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("hint", sa.String(16), nullable=False),
        _ts("created_at", nullable=False),
        _ts("revoked_at"),
        sa.ForeignKeyConstraint(
            ["node_id"], ["nodes.id"], ondelete="CASCADE", name=op.f("fk_node_tokens_node_id_nodes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_node_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_node_tokens_token_hash")),
    )
    op.create_index(op.f("ix_node_tokens_node_id"), "node_tokens", ["node_id"])
    op.create_table(
        "managed_wallets",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(42), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("nonce", sa.LargeBinary(12), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        _ts("created_at", nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], ondelete="CASCADE", name=op.f("fk_managed_wallets_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_managed_wallets")),
        sa.UniqueConstraint("user_id", name=op.f("uq_managed_wallets_user_id")),
        sa.UniqueConstraint("address", name=op.f("uq_managed_wallets_address")),
    )


def downgrade() -> None:
    op.drop_table("managed_wallets")
    op.drop_index(op.f("ix_node_tokens_node_id"), table_name="node_tokens")
    op.drop_table("node_tokens")
    op.drop_index(op.f("ix_nodes_provider_user_id"), table_name="nodes")
    op.drop_table("nodes")
    op.drop_table("siwe_nonces")
    op.drop_index(op.f("ix_wallet_links_user_id"), table_name="wallet_links")
    op.drop_table("wallet_links")
    op.drop_table("users")
