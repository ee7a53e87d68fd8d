"""Alembic environment: async engines (aiosqlite / asyncpg), metadata from every engine model module."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from engine.db import Base, is_sqlite, make_engine
from engine.schema import import_all_models

import_all_models()
target_metadata = Base.metadata
config = context.config


def _run(connection: Connection) -> None:
    url = str(config.get_main_option("sqlalchemy.url"))
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=is_sqlite(url),  # SQLite cannot ALTER most things; batch mode recreates tables
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _online() -> None:
    url = str(config.get_main_option("sqlalchemy.url"))
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_run)
            await conn.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata, literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_online())
