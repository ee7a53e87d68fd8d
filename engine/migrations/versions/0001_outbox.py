"""Transaction outbox: outbox_tx, outbox_attempt, outbox_signer_nonce.

``outbox_tx.value`` (wei) is a decimal string (exact beyond 2**63 on SQLite and PostgreSQL alike); gas,
fees per gas, nonces and block numbers are BIGINT. See engine/outbox/models.py.

Revision ID: 0001_outbox
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_outbox"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATUSES = ("pending", "signed", "broadcast", "mined", "confirmed", "failed")


def _ts(name: str, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "outbox_tx",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("to_address", sa.String(42), nullable=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("value", sa.String(78), nullable=False),
        sa.Column(
            "status", sa.Enum(*_STATUSES, name="outboxstatus", native_enum=False, length=16), nullable=False
        ),
        sa.Column("from_address", sa.String(42), nullable=True),
        sa.Column("chain_id", sa.BigInteger(), nullable=True),
        sa.Column("nonce", sa.BigInteger(), nullable=True),
        sa.Column("gas", sa.BigInteger(), nullable=True),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("tx_hash", sa.String(66), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("block_hash", sa.String(66), nullable=True),
        sa.Column("receipt_status", sa.Integer(), nullable=True),
        sa.Column("gas_used", sa.BigInteger(), nullable=True),
        _ts("created_at", nullable=False),
        _ts("updated_at", nullable=False),
        _ts("signed_at"),
        _ts("broadcast_at"),
        _ts("mined_at"),
        _ts("confirmed_at"),
        _ts("failed_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_tx")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_outbox_tx_idempotency_key")),
    )
    op.create_index(op.f("ix_outbox_tx_status"), "outbox_tx", ["status"])
    op.create_table(
        "outbox_attempt",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.Column("gas", sa.BigInteger(), nullable=False),
        sa.Column("max_fee_per_gas", sa.BigInteger(), nullable=False),
        sa.Column("max_priority_fee_per_gas", sa.BigInteger(), nullable=False),
        _ts("created_at", nullable=False),
        sa.ForeignKeyConstraint(
            ["outbox_id"],
            ["outbox_tx.id"],
            ondelete="CASCADE",
            name=op.f("fk_outbox_attempt_outbox_id_outbox_tx"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_attempt")),
        sa.UniqueConstraint("tx_hash", name=op.f("uq_outbox_attempt_tx_hash")),
    )
    op.create_index(op.f("ix_outbox_attempt_outbox_id"), "outbox_attempt", ["outbox_id"])
    op.create_table(
        "outbox_signer_nonce",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("address", sa.String(42), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("next_nonce", sa.BigInteger(), nullable=False),
        _ts("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_signer_nonce")),
        sa.UniqueConstraint("address", "chain_id", name=op.f("uq_outbox_signer_nonce_address_chain_id")),
    )


def downgrade() -> None:
    op.drop_table("outbox_signer_nonce")
    op.drop_index(op.f("ix_outbox_attempt_outbox_id"), table_name="outbox_attempt")
    op.drop_table("outbox_attempt")
    op.drop_index(op.f("ix_outbox_tx_status"), table_name="outbox_tx")
    op.drop_table("outbox_tx")
