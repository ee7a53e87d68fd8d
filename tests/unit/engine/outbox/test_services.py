"""enqueue / get_by_key / wait_confirmed on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine import db
from engine.outbox.errors import OutboxTimeout, OutboxTxFailed
from engine.outbox.models import OutboxStatus, OutboxTx
from engine.outbox.services import enqueue, get_by_key, wait_confirmed

TO = "0x" + "ab" * 20
BACKENDS = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


async def count(session) -> int:
    return (await session.execute(select(func.count()).select_from(OutboxTx))).scalar_one()


async def test_same_key_twice_is_one_row(db_session) -> None:
    first = await enqueue(
        db_session, kind="k", to=TO, data=b"\x01", value=5, idempotency_key="dup", args={"a": 1}
    )
    second = await enqueue(
        db_session, kind="k", to=TO, data=b"\x02", value=6, idempotency_key="dup", args={"a": 2}
    )
    assert second.id == first.id
    assert (second.data, second.value, second.args) == (b"\x01", 5, {"a": 1})  # the first one stays
    assert second.status is OutboxStatus.PENDING and second.attempt_count == 0
    assert await count(db_session) == 1


async def test_wei_beyond_int64_round_trips_exactly(db_session) -> None:
    value = 2**255 + 12345
    await enqueue(db_session, kind="k", to=TO, data=b"", value=value, idempotency_key="big", args={})
    db_session.expunge_all()
    row = await get_by_key(db_session, "big")
    assert row is not None and row.value == value and row.to_address == TO


async def test_bad_input_is_refused(db_session) -> None:
    with pytest.raises(ValueError):
        await enqueue(db_session, kind="k", to="0x12", data=b"", idempotency_key="x", args={})
    with pytest.raises(ValueError):
        await enqueue(db_session, kind="k", to=TO, data=b"", value=-1, idempotency_key="y", args={})
    assert await count(db_session) == 0


@BACKENDS
async def test_rolled_back_business_transaction_leaves_no_row(database_url) -> None:
    engine = db.make_engine(database_url)
    sm = db.make_sessionmaker(engine)
    try:
        async with sm() as s:
            async with s.begin():
                await enqueue(s, kind="k", to=TO, data=b"", idempotency_key="gone", args={})
                assert await get_by_key(s, "gone") is not None
                await s.rollback()
        async with sm() as s, s.begin():
            await enqueue(s, kind="k", to=TO, data=b"", idempotency_key="kept", args={})
        async with sm() as s:
            assert await get_by_key(s, "gone") is None
            assert await get_by_key(s, "kept") is not None
            assert await count(s) == 1
    finally:
        await engine.dispose()


@BACKENDS
async def test_wait_confirmed_reports_final_states(database_url) -> None:
    engine = db.make_engine(database_url)
    sm = db.make_sessionmaker(engine)
    try:
        async with sm() as s, s.begin():
            ok = await enqueue(s, kind="k", to=TO, data=b"", idempotency_key="ok", args={})
            bad = await enqueue(s, kind="k", to=TO, data=b"", idempotency_key="bad", args={})
            await enqueue(s, kind="k", to=TO, data=b"", idempotency_key="slow", args={})
            ok.status, bad.status, bad.last_error = (
                OutboxStatus.CONFIRMED,
                OutboxStatus.FAILED,
                "reverted: X()",
            )
        assert (await wait_confirmed(sm, "ok", 5)).status is OutboxStatus.CONFIRMED
        with pytest.raises(OutboxTxFailed) as failed:
            await wait_confirmed(sm, "bad", 5)
        assert failed.value.error == "reverted: X()"
        with pytest.raises(OutboxTimeout) as slow:
            await wait_confirmed(sm, "slow", 0.1)
        assert slow.value.status == "pending"
    finally:
        await engine.dispose()
