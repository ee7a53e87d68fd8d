"""Migration 0015 builds exactly the auto top-up tables the model describes, on SQLite and
PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from engine import db
from engine.schema import import_all_models

BACKENDS = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
TABLES = ("auto_top_up_rules", "auto_top_up_charges", "auto_top_up_claims")


@BACKENDS
async def test_upgrade_creates_the_auto_top_up_tables_matching_the_models(database_url: str) -> None:
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
    for table in TABLES:
        assert table in tables
        assert [d for d in diff if f"'{table}'" in repr(d)] == []
