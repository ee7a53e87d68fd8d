"""Deployment lifecycle hardening (issue 11): transactions handed out with a transition (an orphaned
lease's close), a retired lease's former replica index. The new statuses (``expired`` deployments,
``orphaned`` leases) need no change: status columns are plain strings.

Revision ID: 0010_deployment_lifecycle
Revises: 0009_operator_setting_names
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_deployment_lifecycle"
down_revision: str | None = "0009_operator_setting_names"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deployment_transitions") as batch:
        batch.add_column(sa.Column("transactions", sa.JSON(), nullable=True))
    with op.batch_alter_table("leases") as batch:
        batch.add_column(sa.Column("retired_index", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("leases") as batch:
        batch.drop_column("retired_index")
    with op.batch_alter_table("deployment_transitions") as batch:
        batch.drop_column("transactions")
