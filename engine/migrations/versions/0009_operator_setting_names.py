"""Operator settings: one name per setting (the environment default's and the chain's).

Renames keys inside the stored settings versions and their audit rows:
``maintenance_min_notice_s`` → ``maintenance_min_notice``, ``maintenance_max_window_s`` →
``maintenance_max_window``, ``min_collateral`` → ``provider_min_collateral``, ``heartbeat_timeout_s`` →
``node_offline_after`` (see engine/operator/config.py). Downgrade renames them back.

Revision ID: 0009_operator_setting_names
Revises: 0008_scaling
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0009_operator_setting_names"
down_revision: str | None = "0008_scaling"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RENAMES = {
    "maintenance_min_notice_s": "maintenance_min_notice",
    "maintenance_max_window_s": "maintenance_max_window",
    "min_collateral": "provider_min_collateral",
    "heartbeat_timeout_s": "node_offline_after",
}

_versions = sa.table(
    "operator_config_versions",
    sa.column("id", sa.Integer()),
    sa.column("kind", sa.String()),
    sa.column("values", sa.JSON()),
)
_audit = sa.table(
    "operator_audit_log",
    sa.column("id", sa.Integer()),
    sa.column("kind", sa.String()),
    sa.column("before", sa.JSON()),
    sa.column("after", sa.JSON()),
)


def _renamed(values: Any, names: Mapping[str, str]) -> Any:
    if not isinstance(values, dict):
        return values
    return {names.get(k, k): v for k, v in values.items()}


def _apply(names: Mapping[str, str]) -> None:
    bind = op.get_bind()
    versions = sa.select(_versions.c.id, _versions.c["values"]).where(_versions.c.kind == "settings")
    for row_id, values in bind.execute(versions).all():
        new = _renamed(values, names)
        if new != values:
            bind.execute(sa.update(_versions).where(_versions.c.id == row_id).values({"values": new}))
    audit = sa.select(_audit.c.id, _audit.c.before, _audit.c.after).where(_audit.c.kind == "settings")
    for row_id, old_before, old_after in bind.execute(audit).all():
        before, after = _renamed(old_before, names), _renamed(old_after, names)
        if (before, after) != (old_before, old_after):
            bind.execute(sa.update(_audit).where(_audit.c.id == row_id).values(before=before, after=after))


def upgrade() -> None:
    _apply(RENAMES)


def downgrade() -> None:
    _apply({new: old for old, new in RENAMES.items()})
