"""Migration 0013 builds exactly the ``balance_snapshots`` table the model describes, on SQLite and
PostgreSQL, and the migration history has exactly one head."""

from __future__ import annotations

import pytest

from tests.support.migrations import assert_one_head, assert_tables_match_models

TABLES = ("balance_snapshots",)


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
async def test_upgrade_creates_the_snapshot_table_matching_the_model(database_url: str) -> None:
    await assert_tables_match_models(database_url, TABLES)


def test_one_migration_head() -> None:
    assert_one_head()
