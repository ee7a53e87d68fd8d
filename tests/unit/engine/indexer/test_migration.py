"""Migrations 0003 and 0020 build exactly the indexer tables the models describe (the undo journal
included), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from engine import db
from engine.schema import import_all_models

TABLES = {"chain_blocks", "chain_events", "chain_event_accounts", "indexer_cursor", "chain_undo"}


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
async def test_upgrade_creates_indexer_tables_matching_models(database_url) -> None:
    import_all_models()
    engine = db.make_engine(database_url)
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            diff = await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), db.Base.metadata
                )
            )
    finally:
        await engine.dispose()
    assert tables >= TABLES
    assert [d for d in diff if any(t in repr(d) for t in TABLES)] == []
