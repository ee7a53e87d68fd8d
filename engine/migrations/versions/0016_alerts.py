"""Low-balance alerts (issue 12): per-user threshold overrides (``alert_preferences``), the conditions
announced per period (``alert_marks``), and the scheduler's per-period run claims
(``scheduler_job_periods``: each interval job runs once per period across processes).

See engine/alerts/models.py and engine/scheduler/models.py.

Revision ID: 0016_alerts
Revises: 0015_auto_top_up
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_alerts"
down_revision: str | None = "0015_auto_top_up"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "alert_preferences",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("thresholds", sa.JSON(), nullable=True),
        sa.Column("updated_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_alert_preferences_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_alert_preferences")),
    )
    op.create_table(
        "alert_marks",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=40), nullable=False),
        sa.Column("threshold", sa.BigInteger(), nullable=False),
        sa.Column("period", sa.BigInteger(), nullable=False),
        sa.Column("notification_id", sa.Integer(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_alert_marks_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notifications.id"],
            name=op.f("fk_alert_marks_notification_id_notifications"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("user_id", "subject", "threshold", "period", name=op.f("pk_alert_marks")),
    )
    op.create_index("ix_alert_marks_period", "alert_marks", ["period"])
    op.create_table(
        "scheduler_job_periods",
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("period", sa.BigInteger(), nullable=False),
        sa.Column("runner", sa.String(length=200), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("finished_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("job_id", "period", name=op.f("pk_scheduler_job_periods")),
    )


def downgrade() -> None:
    op.drop_table("scheduler_job_periods")
    op.drop_index("ix_alert_marks_period", table_name="alert_marks")
    op.drop_table("alert_marks")
    op.drop_table("alert_preferences")
