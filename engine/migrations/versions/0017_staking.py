"""Staking discount tiers (issue 13): no tables. Stakes, locks and tiers live on chain (``StakingTiers``); the
engine's writes (tier schedules, spend-rate reports) are outbox rows. The revision keeps the chain of
revisions linear (0016 -> 0017 -> 0018).

Revision ID: 0017_staking
Revises: 0016_alerts
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0017_staking"
down_revision: str | None = "0016_alerts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
