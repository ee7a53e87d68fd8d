"""Staking events indexed (issue 13).

Revision ID: 0023_staking_events
Revises: 0022_wallet_history
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0023_staking_events"
down_revision: str | None = "0022_wallet_history"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
