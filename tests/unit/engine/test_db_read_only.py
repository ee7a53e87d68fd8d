"""``engine.db.read_only``: hot-path reads without a transaction around them (PostgreSQL: AUTOCOMMIT, no
BEGIN/ROLLBACK sent; SQLite: a deferred BEGIN that does not wait for the write lock)."""

from __future__ import annotations

from sqlalchemy import event, text

from engine import db


async def test_read_only_reads_and_sends_no_transaction_on_postgresql(migrated_engine) -> None:
    sm = db.make_sessionmaker(migrated_engine)
    sent: list[str] = []

    def hook(_conn: object, _cursor: object, stmt: str, *_args: object) -> None:
        sent.append(stmt)

    event.listen(migrated_engine.sync_engine, "before_cursor_execute", hook)
    try:
        async with db.read_only(sm) as conn:
            assert (await conn.execute(text("SELECT 41 + 1"))).scalar_one() == 42
        async with db.read_only(sm) as conn:
            assert (await conn.execute(text("SELECT 7"))).scalar_one() == 7
    finally:
        event.remove(migrated_engine.sync_engine, "before_cursor_execute", hook)
    if migrated_engine.dialect.name == "sqlite":
        assert sent == ["BEGIN", "SELECT 41 + 1", "BEGIN", "SELECT 7"]  # deferred, not IMMEDIATE
    else:
        assert sent == ["SELECT 41 + 1", "SELECT 7"]
    # a pooled connection handed back in AUTOCOMMIT is reset: ordinary sessions still get a transaction
    async with sm() as session:
        await session.execute(text("SELECT 1"))
        assert session.in_transaction()
        if migrated_engine.dialect.name == "postgresql":
            assert (await session.execute(text("SELECT txid_current_if_assigned() IS NULL"))).scalar_one()
            await session.execute(text("SELECT txid_current()"))
            assert (await session.execute(text("SELECT txid_current_if_assigned() IS NOT NULL"))).scalar_one()


async def test_sqlite_read_only_does_not_wait_for_a_writer(migrated_engine) -> None:
    if migrated_engine.dialect.name != "sqlite":
        return
    sm = db.make_sessionmaker(migrated_engine)
    async with sm() as writer:
        await writer.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: holds the write lock
        async with db.read_only(sm) as conn:
            assert (await conn.execute(text("SELECT count(*) FROM users"))).scalar_one() >= 0
