"""Database access: one async engine per process, sessions from a factory, a declarative base.

SQLite (aiosqlite, WAL) is the embedded default; PostgreSQL (asyncpg) is production. Schema changes go
through Alembic (``engine/migrations``); :func:`upgrade` applies them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


READ_ONLY = "cloudmarket_read_only"  # execution option set by read_only()
POOL_RECYCLE = 1800  # seconds a PostgreSQL connection is reused before it is replaced
POOL_SIZE = 40  # PostgreSQL connections kept open per process (setting db_pool_size)
# none opened above POOL_SIZE: an overflow connection is closed when returned, so under a sustained load
# above the pool size every request past it paid a PostgreSQL connect (a backend fork on the server). With
# 64 concurrent clients, pool 20 + overflow 10 gave the deployments list 837-972 req/s (p99 117-133 ms);
# pool 40, no overflow 1,114-1,153 (p99 78 ms): bench/load.py, same machine, interleaved. A request past the
# pool waits for a connection instead.
POOL_OVERFLOW = 0


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Create the process's engine. SQLite gets WAL, a busy timeout and foreign keys on."""
    if is_sqlite(url):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"timeout": 30})
        engine = create_async_engine(url, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
            # Let the "begin" hook below emit BEGIN itself (SQLAlchemy's documented pysqlite recipe).
            dbapi_conn.isolation_level = None

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            # pysqlite's default deferred BEGIN lets two writers read then deadlock on upgrade;
            # IMMEDIATE takes the write lock up front so writers queue instead (see SQLAlchemy docs,
            # "Serializable isolation / Savepoints / Transactional DDL" for pysqlite). A read-only
            # connection (:func:`read_only`) never writes: a deferred BEGIN, no write lock.
            if conn.get_execution_options().get(READ_ONLY):
                conn.exec_driver_sql("BEGIN")
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # No pre-ping: it costs a round trip on EVERY checkout (i.e. per session). Connections are recycled
    # after POOL_RECYCLE seconds instead (before any server/proxy idle timeout), and a connection that
    # died anyway fails its statement once with a disconnect error, which SQLAlchemy turns into a pool
    # invalidation, so the next checkout gets a fresh connection.
    kwargs.setdefault("pool_recycle", POOL_RECYCLE)
    # Connections above pool_size are closed when returned: under concurrent load a small pool opens
    # and closes a connection (TCP, SSL negotiation, auth) per request. Keep enough of them open.
    kwargs.setdefault("pool_size", POOL_SIZE)
    kwargs.setdefault("max_overflow", POOL_OVERFLOW)
    return create_async_engine(url, **kwargs)


@asynccontextmanager
async def read_only(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncConnection]:
    """A pooled connection for reads that need no transaction around them (hot paths; no ORM session).

    On PostgreSQL it runs in AUTOCOMMIT: no BEGIN / ROLLBACK round trips; each statement sees its own
    snapshot, so use it for one-statement reads (or reads that need not agree with each other). On SQLite
    it takes a deferred BEGIN (a read lock) instead of the BEGIN IMMEDIATE (write lock) of other
    transactions. Writing through it is a bug.
    """
    engine = sessionmaker.kw["bind"]
    async with engine.connect() as conn:
        if is_sqlite(str(engine.url)):
            await conn.execution_options(**{READ_ONLY: True})
        else:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    here = Path(__file__).parent
    cfg = Config()
    cfg.set_main_option("script_location", str(here / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def _upgrade_sync(url: str, revision: str) -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)


async def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (runs Alembic in a worker thread; env.py is async-aware)."""
    await asyncio.to_thread(_upgrade_sync, url, revision)
