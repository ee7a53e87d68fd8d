"""Migration 0001 builds exactly the tables the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from engine import db
from engine.schema import import_all_models

BACKENDS = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


@BACKENDS
async def test_upgrade_creates_outbox_tables_matching_models(database_url) -> None:
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
    assert {"outbox_tx", "outbox_attempt", "outbox_signer_nonce", "alembic_version"} <= tables
    outbox_tables = {"outbox_tx", "outbox_attempt", "outbox_signer_nonce"}

    def touches_outbox(d: object) -> bool:
        return any(t in repr(d) for t in outbox_tables)

    assert [d for d in diff if touches_outbox(d)] == []
