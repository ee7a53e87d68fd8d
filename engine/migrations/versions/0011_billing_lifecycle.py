"""Billing lifecycle (issue 11): subscriptions follow Stripe (period end for ordering, the failed
renewal's message, the create retry count and the payment method sent on create); refunds are visible
(``refunded_cents`` on payments and ledger entries; a payment's status can read ``partially_refunded``).

Revision ID: 0011_billing_lifecycle
Revises: 0010_deployment_lifecycle
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_billing_lifecycle"
down_revision: str | None = "0010_deployment_lifecycle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(sa.Column("payment_method", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("current_period_end", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_payment_error", sa.Text(), nullable=True))
        batch.add_column(sa.Column("create_attempts", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("payments") as batch:
        batch.alter_column(
            "status", existing_type=sa.String(length=16), type_=sa.String(length=24), existing_nullable=False
        )
        batch.add_column(sa.Column("refunded_cents", sa.BigInteger(), server_default="0", nullable=False))
    with op.batch_alter_table("ledger_entries") as batch:
        batch.add_column(sa.Column("refunded_cents", sa.BigInteger(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("ledger_entries") as batch:
        batch.drop_column("refunded_cents")
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("refunded_cents")
        batch.alter_column(
            "status", existing_type=sa.String(length=24), type_=sa.String(length=16), existing_nullable=False
        )
    with op.batch_alter_table("subscriptions") as batch:
        for column in ("updated_at", "create_attempts", "last_payment_error", "current_period_end"):
            batch.drop_column(column)
        batch.drop_column("payment_method")
