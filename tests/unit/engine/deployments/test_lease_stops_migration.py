"""Migration 0014 (issue 10, engine side) on SQLite and PostgreSQL: up adds the lease columns
(``quote_expiry``, ``stopped_at``, ``stopped_block``) and the ``provider_claims`` table as the models
describe them; down to 0013 removes exactly those (the rest of the lease table and its rows stay); up again
works."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from engine import db
from engine.schema import import_all_models
from tests.conftest import new_database_url

BACKENDS = pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
REVISION, DOWN = "0014_lease_stops", "0013_balance_snapshots"
COLUMNS = {"quote_expiry", "stopped_at", "stopped_block"}
TABLE = "provider_claims"


async def _schema(url: str) -> tuple[set[str], set[str], list[object]]:
    """(lease columns, tables, diffs against the models that concern this migration)."""
    import_all_models()
    eng = db.make_engine(url)
    try:
        async with eng.connect() as conn:

            def read(c: sa.Connection) -> tuple[set[str], set[str], list[object]]:
                insp = inspect(c)
                columns = {col["name"] for col in insp.get_columns("leases")}
                diff = compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), db.Base.metadata
                )
                mine = [d for d in diff if f"'{TABLE}'" in repr(d) or any(x in repr(d) for x in COLUMNS)]
                return columns, set(insp.get_table_names()), mine

            return await conn.run_sync(read)
    finally:
        await eng.dispose()


async def _lease_count(url: str) -> int:
    eng = db.make_engine(url)
    try:
        async with eng.connect() as conn:
            return int((await conn.execute(sa.text("SELECT count(*) FROM leases"))).scalar_one())
    finally:
        await eng.dispose()


@BACKENDS
async def test_up_down_up(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> None:
    url = new_database_url(backend, tmp_path_factory, request)
    await db.upgrade(url, REVISION)
    columns, tables, diff = await _schema(url)
    assert columns >= COLUMNS and TABLE in tables
    assert diff == []  # the migration builds what the models say (types, nullability, index)

    await asyncio.to_thread(command.downgrade, db.alembic_config(url), DOWN)
    columns, tables, _ = await _schema(url)
    assert not columns & COLUMNS and TABLE not in tables
    assert {"deployment_id", "chain_lease_id", "retired_index"} <= columns  # the rest of the table stays
    assert await _lease_count(url) == 0

    await db.upgrade(url, REVISION)
    columns, tables, _ = await _schema(url)
    assert columns >= COLUMNS and TABLE in tables
