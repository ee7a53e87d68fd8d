"""Notifications (issue 12): in-app title/body, webhook endpoints, the email/webhook delivery outbox, and
the last run of each scheduler job.

See engine/notifications/models.py and engine/scheduler/models.py.

Revision ID: 0012_notifications
Revises: 0011_billing_lifecycle
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_notifications"
down_revision: str | None = "0011_billing_lifecycle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def _fk(table: str) -> sa.ForeignKey:
    return sa.ForeignKey(f"{table}.id", ondelete="CASCADE")


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("title", sa.String(200), server_default="", nullable=False))
        batch.add_column(sa.Column("body", sa.Text(), server_default="", nullable=False))
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer(), _fk("users"), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("secret", sa.String(80), nullable=False),
        sa.Column("description", sa.String(200), server_default="", nullable=False),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_index(op.f("ix_webhook_endpoints_user_id"), "webhook_endpoints", ["user_id"])
    op.create_table(
        "notification_deliveries",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer(), _fk("users"), nullable=False),
        sa.Column("notification_id", sa.Integer(), _fk("notifications"), nullable=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), _fk("webhook_endpoints"), nullable=True),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _TS, nullable=False),
        sa.Column("give_up_at", _TS, nullable=False),
        sa.Column("claimed_until", _TS, nullable=True),
        sa.Column("last_attempt_at", _TS, nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("delivered_at", _TS, nullable=True),
        sa.UniqueConstraint("notification_id", "channel", "endpoint_id"),
    )
    op.create_index(op.f("ix_notification_deliveries_user_id"), "notification_deliveries", ["user_id"])
    op.create_index(
        op.f("ix_notification_deliveries_endpoint_id"), "notification_deliveries", ["endpoint_id"]
    )
    op.create_index(
        "ix_notification_deliveries_due", "notification_deliveries", ["status", "next_attempt_at"]
    )
    op.create_table(
        "scheduler_job_runs",
        sa.Column("job_id", sa.String(64), primary_key=True),
        sa.Column("runner", sa.String(200), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("finished_at", _TS, nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(500), nullable=True),
        sa.Column("next_run_at", _TS, nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("scheduler_job_runs")
    op.drop_table("notification_deliveries")
    op.drop_table("webhook_endpoints")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("body")
        batch.drop_column("title")
