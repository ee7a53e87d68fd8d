"""Lease stops, stored quote terms and SLA claims (issue 10, engine side).

* ``leases.quote_expiry``: the expiry (chain time) of the quote the engine signed for the lease's open;
  the indexer's quote check refuses an open mined after it (engine.deployments.quotecheck).
* ``leases.stopped_at`` / ``stopped_block``: when the lease's node stopped being active on chain (the
  escrow's ``LeaseStopped``, the registry's ``NodeRemoved`` / ``ProviderDeactivated``); a stopped lease
  accrues nothing more, is never topped up by the engine and is failed over (engine.deployments.stops).
* ``provider_claims``: the registry's SLA claims (``ClaimFiled`` / ``ClaimResolved``), one row per ref.

Revision ID: 0014_lease_stops
Revises: 0013_balance_snapshots
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_lease_stops"
down_revision: str | None = "0013_balance_snapshots"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("leases") as batch:
        batch.add_column(sa.Column("quote_expiry", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("stopped_at", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("stopped_block", sa.BigInteger(), nullable=True))
    op.create_table(
        "provider_claims",
        sa.Column("ref", sa.String(length=66), nullable=False),
        sa.Column("provider", sa.String(length=42), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("filed_block", sa.BigInteger(), nullable=False),
        sa.Column("resolved_block", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("ref", name=op.f("pk_provider_claims")),
    )
    op.create_index(op.f("ix_provider_claims_provider"), "provider_claims", ["provider"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_provider_claims_provider"), table_name="provider_claims")
    op.drop_table("provider_claims")
    with op.batch_alter_table("leases") as batch:
        batch.drop_column("stopped_block")
        batch.drop_column("stopped_at")
        batch.drop_column("quote_expiry")
