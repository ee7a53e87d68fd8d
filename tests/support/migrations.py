"""What the migration tests of every room check: the migrated database holds a room's tables exactly as its
models describe them (alembic's autogenerate comparison, types included), and the revisions have one head."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

import engine
from engine import db
from engine.schema import import_all_models


async def assert_tables_match_models(database_url: str, tables: Iterable[str]) -> None:
    """``database_url`` (already migrated to head by its fixture) has every table of ``tables``, and no
    difference alembic finds between it and the models names one of them."""
    wanted = set(tables)
    import_all_models()
    eng = db.make_engine(database_url)
    try:
        async with eng.connect() as conn:
            present = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            diff = await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), db.Base.metadata
                )
            )
    finally:
        await eng.dispose()
    assert wanted <= present, sorted(wanted - present)
    assert [d for d in diff if any(f"'{t}'" in repr(d) for t in wanted)] == []


def assert_one_head() -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(engine.__file__).parent / "migrations"))
    assert len(ScriptDirectory.from_config(cfg).get_heads()) == 1
