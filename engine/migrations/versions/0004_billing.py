"""Billing: Stripe customers, requests, payments, processed events, fiat ledger, reversals, account flags,
plans and subscriptions.

See engine/payments/models.py.

Revision ID: 0004_billing
Revises: 0003_indexer
Create Date: 2025-01-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_billing"
down_revision: str | None = "0003_indexer"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "plans",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("price_cents", sa.BigInteger(), nullable=False),
        sa.Column("credit_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("interval", sa.String(length=8), nullable=False),
        sa.Column("stripe_price_id", sa.String(length=64), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plans")),
        sa.UniqueConstraint("stripe_price_id", name=op.f("uq_plans_stripe_price_id")),
    )
    op.create_table(
        "stripe_events",
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_stripe_events")),
    )
    op.create_table(
        "billing_customers",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_billing_customers_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_billing_customers")),
        sa.UniqueConstraint("customer_id", name=op.f("uq_billing_customers_customer_id")),
    )
    op.create_table(
        "billing_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=True),
        sa.Column("result_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_billing_requests_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_requests")),
    )
    with op.batch_alter_table("billing_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_billing_requests_user_id"), ["user_id"], unique=False)

    op.create_table(
        "payments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("charge_cents", sa.BigInteger(), nullable=False),
        sa.Column("fee_cents", sa.BigInteger(), nullable=False),
        sa.Column("credit_units", sa.BigInteger(), nullable=False),
        sa.Column("fee_bearer", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("payment_intent_id", sa.String(length=64), nullable=True),
        sa.Column("client_secret", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_payments_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("payment_intent_id", name=op.f("uq_payments_payment_intent_id")),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payments_user_id"), ["user_id"], unique=False)

    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("stripe_subscription_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"], name=op.f("fk_subscriptions_plan_id_plans")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_subscriptions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint("stripe_subscription_id", name=op.f("uq_subscriptions_stripe_subscription_id")),
    )
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subscriptions_user_id"), ["user_id"], unique=False)

    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("business_key", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=True),
        sa.Column("subscription_id", sa.Integer(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("credit_units", sa.BigInteger(), nullable=False),
        sa.Column("charge_id", sa.String(length=64), nullable=True),
        sa.Column("receipt_url", sa.Text(), nullable=True),
        sa.Column("wallet_address", sa.String(length=42), nullable=False),
        sa.Column("wallet_kind", sa.String(length=16), nullable=False),
        sa.Column("mint_ref", sa.String(length=66), nullable=False),
        sa.Column("mint_key", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_ledger_entries_payment_id_payments")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_ledger_entries_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
        sa.UniqueConstraint("business_key", name=op.f("uq_ledger_entries_business_key")),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_entries_charge_id"), ["charge_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_entries_user_id"), ["user_id"], unique=False)

    op.create_table(
        "reversals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("business_key", sa.String(length=120), nullable=False),
        sa.Column("ledger_entry_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("credit_units", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=True),
        sa.Column("clawback_units", sa.BigInteger(), nullable=False),
        sa.Column("debt_units", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ledger_entry_id"],
            ["ledger_entries.id"],
            name=op.f("fk_reversals_ledger_entry_id_ledger_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_reversals_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reversals")),
        sa.UniqueConstraint("business_key", name=op.f("uq_reversals_business_key")),
    )
    with op.batch_alter_table("reversals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reversals_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_reversals_ledger_entry_id"), ["ledger_entry_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_reversals_user_id"), ["user_id"], unique=False)

    op.create_table(
        "account_flags",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("debt_units", sa.BigInteger(), nullable=False),
        sa.Column("reversal_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["reversal_id"], ["reversals.id"], name=op.f("fk_account_flags_reversal_id_reversals")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_account_flags_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_flags")),
        sa.UniqueConstraint("reversal_id", name=op.f("uq_account_flags_reversal_id")),
    )
    with op.batch_alter_table("account_flags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_account_flags_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("account_flags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_flags_user_id"))

    op.drop_table("account_flags")
    with op.batch_alter_table("reversals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reversals_user_id"))
        batch_op.drop_index(batch_op.f("ix_reversals_ledger_entry_id"))
        batch_op.drop_index(batch_op.f("ix_reversals_action"))

    op.drop_table("reversals")
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_entries_user_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_entries_charge_id"))

    op.drop_table("ledger_entries")
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subscriptions_user_id"))

    op.drop_table("subscriptions")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payments_user_id"))

    op.drop_table("payments")
    with op.batch_alter_table("billing_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_billing_requests_user_id"))

    op.drop_table("billing_requests")
    op.drop_table("billing_customers")
    op.drop_table("stripe_events")
    op.drop_table("plans")
