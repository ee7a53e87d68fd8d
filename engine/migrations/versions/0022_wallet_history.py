"""Wallet history: one keyset-paginated history table (issue 15 §3): ``wallet_history`` — see
engine/wallets/models.py ``WalletHistoryEntry`` and engine/wallets/history.py. Backfilled here from the
ledger entries and reversals; the on-chain items by engine.wallets.history_events.backfill at start-up.

Revision ID: 0022_wallet_history
Revises: 0021_sla
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0022_wallet_history"
down_revision: str | None = "0021_sla"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "wallet_history",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("owner", sa.String(length=50), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("ref", sa.String(length=100), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=True),
        sa.Column("credit_units", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("receipt_url", sa.String(length=500), nullable=True),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("receipt_id", sa.Integer(), nullable=True),
        sa.Column("from_address", sa.String(length=42), nullable=True),
        sa.Column("to_address", sa.String(length=42), nullable=True),
        sa.Column("wallet", sa.String(length=42), nullable=True),
        sa.Column("mint_key", sa.String(length=200), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_history")),
        sa.UniqueConstraint("owner", "ref", name="uq_wallet_history_owner_ref"),
    )
    op.create_index("ix_wallet_history_owner_at", "wallet_history", ["owner", "at", "id"])
    _backfill_payments()
    # On-chain items need their blocks' timestamps (JSON-RPC): engine.wallets.history_events.backfill
    # writes them when the service starts (engine.runtime), from the indexed events.


def _epoch(ts: datetime | str | None) -> int:
    if ts is None:
        return 0
    if isinstance(ts, str):  # SQLite without type processing
        ts = datetime.fromisoformat(ts)
    return int((ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)).timestamp())


def _backfill_payments() -> None:
    """The existing ledger entries and reversals, as engine.wallets.history.record_payment /
    record_reversal write them (batched)."""
    bind = op.get_bind()
    history = sa.table(
        "wallet_history",
        *(
            sa.column(c)
            for c in (
                "owner at ref type kind direction amount_cents credit_units status receipt_id wallet "
                "from_address to_address mint_key"
            ).split()
        ),
    )
    rows: list[dict[str, object]] = []
    for e in bind.execute(
        sa.text(
            "SELECT id, user_id, kind, amount_cents, credit_units, wallet_address, mint_key, created_at "
            "FROM ledger_entries ORDER BY id"
        )
    ):
        rows.append(
            {
                "owner": f"u:{e.user_id}",
                "at": _epoch(e.created_at),
                "ref": f"payment:{e.id}",
                "type": f"payment.{e.kind}",
                "kind": "card_top_up",
                "direction": "in",
                "amount_cents": e.amount_cents,
                "credit_units": e.credit_units,
                "status": "",
                "receipt_id": e.id,
                "wallet": e.wallet_address,
                "from_address": None,
                "to_address": e.wallet_address,
                "mint_key": e.mint_key,
            }
        )
    for r in bind.execute(
        sa.text(
            "SELECT r.id, r.user_id, r.kind, r.credit_units, r.created_at, r.ledger_entry_id, "
            "e.wallet_address FROM reversals r JOIN ledger_entries e ON e.id = r.ledger_entry_id"
            " ORDER BY r.id"
        )
    ):
        rows.append(
            {
                "owner": f"u:{r.user_id}",
                "at": _epoch(r.created_at),
                "ref": f"reversal:{r.id}",
                "type": f"reversal.{r.kind}",
                "kind": "refund",
                "direction": "out",
                "amount_cents": None,
                "credit_units": r.credit_units,
                "status": "",
                "receipt_id": r.ledger_entry_id,
                "wallet": r.wallet_address,
                "from_address": r.wallet_address,
                "to_address": None,
                "mint_key": None,
            }
        )
    for k in range(0, len(rows), 1000):
        bind.execute(history.insert(), rows[k : k + 1000])


def downgrade() -> None:
    op.drop_index("ix_wallet_history_owner_at", table_name="wallet_history")
    op.drop_table("wallet_history")
