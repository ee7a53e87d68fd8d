"""Pick the hub for a database URL: PostgreSQL shares wake-ups across processes, SQLite is one process."""

from __future__ import annotations

from engine.notify.interfaces import Hub
from engine.notify.local import LocalHub
from engine.notify.postgres import PostgresHub


def make_hub(database_url: str) -> Hub:
    """A not-yet-started hub; the composition root calls ``await hub.start()`` and ``hub.close()``."""
    scheme = database_url.partition("://")[0].split("+", 1)[0]
    if scheme in ("postgresql", "postgres"):
        return PostgresHub(database_url)
    return LocalHub()
