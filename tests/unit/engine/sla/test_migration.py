"""Migration 0021 builds exactly the SLA tables the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.support.migrations import assert_tables_match_models

TABLES = ("sla_samples", "sla_endpoints", "sla_records")


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
async def test_upgrade_creates_the_sla_tables_matching_the_models(database_url: str) -> None:
    await assert_tables_match_models(database_url, TABLES)
