"""Migration 0016 builds exactly the ``alert_preferences``, ``alert_marks`` and ``scheduler_job_periods``
tables the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.support.migrations import assert_tables_match_models

TABLES = ("alert_preferences", "alert_marks", "scheduler_job_periods")


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
async def test_upgrade_creates_the_alert_tables_matching_the_models(database_url: str) -> None:
    await assert_tables_match_models(database_url, TABLES)
