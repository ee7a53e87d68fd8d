"""Migration 0013 builds exactly the ``balance_snapshots`` table the model describes, on SQLite and
PostgreSQL, and the migration history has exactly one head."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

import engine
from engine import db
from engine.schema import import_all_models

BACKENDS = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
TABLE = "balance_snapshots"


@BACKENDS
async def test_upgrade_creates_the_snapshot_table_matching_the_model(database_url: str) -> None:
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
    assert TABLE in tables
    assert [d for d in diff if f"'{TABLE}'" in repr(d)] == []


def test_one_migration_head() -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(engine.__file__).parent / "migrations"))
    assert len(ScriptDirectory.from_config(cfg).get_heads()) == 1
