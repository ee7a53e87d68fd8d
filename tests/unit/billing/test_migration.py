"""Migration 0011 brings the billing tables to what the models describe (subscription lifecycle columns,
refunded amounts, the wider payment status) on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from engine import db
from engine.schema import import_all_models

BACKENDS = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
TABLES = {"subscriptions", "payments", "ledger_entries"}


@BACKENDS
async def test_upgrade_matches_the_billing_models(database_url: str) -> None:
    import_all_models()
    eng = db.make_engine(database_url)
    try:
        async with eng.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), db.Base.metadata
                )
            )
    finally:
        await eng.dispose()
    assert [d for d in diff if any(f"'{t}'" in repr(d) for t in TABLES)] == []
