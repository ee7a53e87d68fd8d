"""What callers use: put a chain write in the outbox inside their own transaction, look it up, wait.

``enqueue`` never commits: the row becomes visible to the sender exactly when the caller's business
change commits, and disappears with it on rollback. The idempotency key makes a retried business
operation enqueue nothing new (``INSERT .. ON CONFLICT DO NOTHING`` on SQLite and PostgreSQL alike).
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

from eth_utils.address import is_address
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from engine.outbox.errors import OutboxTimeout, OutboxTxFailed
from engine.outbox.models import OutboxStatus, OutboxTx, utcnow


async def enqueue(
    session: AsyncSession,
    *,
    kind: str,
    to: str | None,
    data: bytes,
    value: int = 0,
    idempotency_key: str,
    args: dict[str, Any],
) -> OutboxTx:
    """Add a chain write to the caller's transaction (no commit). Same key twice: the existing row."""
    if to is not None and not is_address(to):
        raise ValueError(f"not an address: {to!r}")
    if not isinstance(value, int) or value < 0:
        raise ValueError(f"value must be a non-negative int (wei), got {value!r}")
    if not idempotency_key:
        raise ValueError("idempotency_key is required")
    now = utcnow()
    row = {
        "idempotency_key": idempotency_key,
        "kind": kind,
        "args": args,
        "to_address": to.lower() if to is not None else None,
        "data": bytes(data),
        "value": value,
        "status": OutboxStatus.PENDING,
        "attempt_count": 0,
        "created_at": now,
        "updated_at": now,
    }
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(OutboxTx).values(**row).on_conflict_do_nothing(index_elements=["idempotency_key"])
    inserted = (
        await session.scalars(stmt.returning(OutboxTx), execution_options={"populate_existing": True})
    ).one_or_none()
    if inserted is not None:
        return inserted
    found = await get_by_key(session, idempotency_key)  # the key was there already: the existing row
    assert found is not None, "ON CONFLICT DO NOTHING skipped the insert, so the row exists"
    return found


async def get_by_key(session: AsyncSession, key: str) -> OutboxTx | None:
    result = await session.execute(
        select(OutboxTx).where(OutboxTx.idempotency_key == key).execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def wait_confirmed(
    sessionmaker: async_sessionmaker[AsyncSession],
    key: str,
    timeout: float,  # noqa: ASYNC109 — `timeout` is part of the documented interface
    *,
    poll: float = 0.05,
) -> OutboxTx:
    """Wait until the row is final. Returns it when confirmed; raises OutboxTxFailed / OutboxTimeout."""
    deadline = time.monotonic() + timeout
    status: str | None = None
    while True:
        async with sessionmaker() as session:
            row = await get_by_key(session, key)
        if row is not None:
            status = row.status.value
            if row.status is OutboxStatus.CONFIRMED:
                return row
            if row.status is OutboxStatus.FAILED:
                raise OutboxTxFailed(key, row.last_error, row.tx_hash)
        if time.monotonic() >= deadline:
            raise OutboxTimeout(key, status)
        await asyncio.sleep(poll)


async def count_by_status(session: AsyncSession) -> dict[str, int]:
    """Outbox rows per status (for /metrics)."""
    rows = await session.execute(select(OutboxTx.status, func.count()).group_by(OutboxTx.status))
    return {str(status): int(count) for status, count in rows.all()}


OPEN_STATUSES = (OutboxStatus.PENDING, OutboxStatus.SIGNED, OutboxStatus.BROADCAST, OutboxStatus.MINED)


async def open_by_status(session: AsyncSession) -> dict[str, tuple[int, datetime | None]]:
    """Rows not final yet, per status: ``(count, oldest created_at)``, every open status present (for
    /metrics). One query over the open rows only (the status index): its cost follows the depth, not
    the history of confirmed rows."""
    out: dict[str, tuple[int, datetime | None]] = {str(s): (0, None) for s in OPEN_STATUSES}
    rows = await session.execute(
        select(OutboxTx.status, func.count(), func.min(OutboxTx.created_at))
        .where(OutboxTx.status.in_(OPEN_STATUSES))
        .group_by(OutboxTx.status)
    )
    for status, count, oldest in rows.all():
        out[str(status)] = (int(count), oldest)
    return out


async def rows_by_keys(session: AsyncSession, keys: list[str]) -> dict[str, OutboxTx]:
    """The outbox rows with these idempotency keys, by key (missing keys are absent)."""
    if not keys:
        return {}
    rows = await session.scalars(select(OutboxTx).where(OutboxTx.idempotency_key.in_(keys)))
    return {r.idempotency_key: r for r in rows.all()}
