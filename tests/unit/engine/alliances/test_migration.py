"""Migration 0018 builds exactly the alliance tables the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from engine import db
from engine.schema import import_all_models

BACKENDS = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
TABLES = ("alliances", "alliance_members", "alliance_nodes", "alliance_texts")


@BACKENDS
async def test_upgrade_creates_the_alliance_tables_matching_the_models(database_url: str) -> None:
    import_all_models()
    eng = db.make_engine(database_url)
    try:
        async with eng.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            diff = await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), db.Base.metadata
                )
            )
    finally:
        await eng.dispose()
    assert set(TABLES) <= tables
    assert [d for d in diff if any(f"'{t}'" in repr(d) for t in TABLES)] == []
