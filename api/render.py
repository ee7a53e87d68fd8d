"""Rendering helpers shared by the API's schemas modules.

* :func:`iso_utc`: every timestamp the API returns is ISO 8601 in UTC **with** its offset (``+00:00``).
  SQLite hands ``DateTime(timezone=True)`` columns back naive (they were stored as UTC), PostgreSQL
  aware; both render the same.
"""

from __future__ import annotations

from datetime import UTC, datetime


def iso_utc(value: datetime) -> str:
    """``value`` as ISO 8601 in UTC with the offset; a naive value is taken to be UTC already."""
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.isoformat()


def iso_utc_or_none(value: datetime | None) -> str | None:
    return None if value is None else iso_utc(value)
