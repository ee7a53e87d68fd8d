"""Migration 0023 builds exactly the staking index tables the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.support.migrations import assert_tables_match_models

TABLES = ("staking_positions", "staking_events")


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
async def test_upgrade_creates_the_staking_tables_matching_the_models(database_url: str) -> None:
    await assert_tables_match_models(database_url, TABLES)
