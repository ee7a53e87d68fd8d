"""Migration 0006 builds exactly the deployment tables the models describe, on SQLite and PostgreSQL,
and the migration history has exactly one head."""

from __future__ import annotations

import pytest

from tests.support.migrations import assert_tables_match_models

TABLES = {"deployments", "leases", "deployment_transitions", "escrow_requests"}


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
async def test_upgrade_creates_deployment_tables_matching_models(database_url: str) -> None:
    await assert_tables_match_models(database_url, TABLES)
