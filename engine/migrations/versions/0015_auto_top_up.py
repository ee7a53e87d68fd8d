"""Auto top-up (issue 12): rules, claims per (lease, period), card sagas, actions.

Revision ID: 0015_auto_top_up
Revises: 0014_lease_stops
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_auto_top_up"
down_revision: str | None = "0014_lease_stops"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "auto_top_up_rules",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("floor_seconds", sa.BigInteger(), nullable=False),
        sa.Column("target_seconds", sa.BigInteger(), nullable=False),
        sa.Column("monthly_cap", sa.BigInteger(), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_auto_top_up_rules_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auto_top_up_rules")),
        sa.UniqueConstraint("user_id", name=op.f("uq_auto_top_up_rules_user_id")),
    )
    op.create_table(
        "auto_top_up_charges",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.BigInteger(), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=True),
        sa.Column("payment_method", sa.String(length=255), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("credit_units", sa.BigInteger(), nullable=False),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("intent_id", sa.String(length=255), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["auto_top_up_rules.id"],
            name=op.f("fk_auto_top_up_charges_rule_id_auto_top_up_rules"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_auto_top_up_charges_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_auto_top_up_charges_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auto_top_up_charges")),
        sa.UniqueConstraint("rule_id", "period", name=op.f("uq_auto_top_up_charges_rule_id_period")),
    )
    op.create_table(
        "auto_top_up_claims",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.BigInteger(), nullable=False),
        sa.Column("lease_row_id", sa.BigInteger(), nullable=False),
        sa.Column("chain_lease_id", sa.String(length=78), nullable=False),
        sa.Column("period", sa.BigInteger(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("runway_seconds", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("charge_id", sa.Integer(), nullable=True),
        sa.Column("outbox_key", sa.String(length=200), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["auto_top_up_rules.id"],
            name=op.f("fk_auto_top_up_claims_rule_id_auto_top_up_rules"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_auto_top_up_claims_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["charge_id"],
            ["auto_top_up_charges.id"],
            name=op.f("fk_auto_top_up_claims_charge_id_auto_top_up_charges"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auto_top_up_claims")),
        sa.UniqueConstraint(
            "lease_row_id", "period", "source", name=op.f("uq_auto_top_up_claims_lease_row_id_period_source")
        ),
    )
    op.create_index(
        "ix_auto_top_up_claims_rule_month", "auto_top_up_claims", ["rule_id", "month"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_auto_top_up_claims_rule_month", table_name="auto_top_up_claims")
    op.drop_table("auto_top_up_claims")
    op.drop_table("auto_top_up_charges")
    op.drop_table("auto_top_up_rules")
