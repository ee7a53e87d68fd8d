"""Migration 0015 builds exactly the auto top-up tables the model describes, on SQLite and
PostgreSQL."""

from __future__ import annotations

import pytest

from tests.support.migrations import assert_tables_match_models

TABLES = ("auto_top_up_rules", "auto_top_up_charges", "auto_top_up_claims")


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
async def test_upgrade_creates_the_auto_top_up_tables_matching_the_models(database_url: str) -> None:
    await assert_tables_match_models(database_url, TABLES)
