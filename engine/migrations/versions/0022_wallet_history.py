"""Wallet history: one keyset-paginated history table per wallet (issue 15 §3).

Revision ID: 0022_wallet_history
Revises: 0021_sla
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0022_wallet_history"
down_revision: str | None = "0021_sla"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
