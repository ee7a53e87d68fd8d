"""The wallet history table (``wallet_history``) and its keyset walk (issue 15 §3): a page costs the same
whatever the history's length, and every entry is reachable.

Rows. One per history item, owned by ``u:<user id>`` (the user's card top-ups, :func:`record_payment`, and
their refunds/disputes, :func:`record_reversal`, written in the same transaction as the ledger entry /
reversal by :mod:`engine.payments.services`) or by ``w:<address>`` (an on-chain credit movement of that
address, written by the indexer subscriber :class:`engine.wallets.history_events.HistorySubscriber` under
the reorg journal, so a rollback deletes it). A user's history is the union of ``u:<id>`` and the ``w:``
owners of every address the user links now. Payment and reversal items store what orders them; their
changing fields (mint status, refund action, receipt URL) are read from the ledger and outbox rows of the
page only. Chain items are immutable apart from finality (read from the indexer's cursor).

Walk. A page is, per owner, ``WHERE owner = ? AND (at, id) < (cursor) ORDER BY at DESC, id DESC LIMIT
n + 1`` (a range scan of ``ix_wallet_history_owner_at`` that stops after ``n + 1`` rows), merged by one
outer ``ORDER BY at DESC, id DESC LIMIT n + 1``: ``O(n x owners)`` rows read, never the whole history. The
cursor is the last item's ``(at, id)``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Integer, Row, Select, bindparam, select, tuple_, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from engine.wallets.models import WalletHistoryEntry as H

Cursor = tuple[int, int]  # (at, id) of the last item of the previous page
PAYMENT_PREFIX = "payment:"
REVERSAL_PREFIX = "reversal:"
CHAIN_PREFIX = "chain:"


def user_owner(user_id: int) -> str:
    return f"u:{user_id}"


def wallet_owner(address: str) -> str:
    return f"w:{address.lower()}"


def epoch(ts: datetime | None) -> int:
    if ts is None:
        return int(datetime.now(UTC).timestamp())
    return int((ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)).timestamp())


def record_payment(
    session: AsyncSession,
    *,
    entry_id: int,
    user_id: int,
    kind: str,
    created_at: datetime | None,
    amount_cents: int,
    credit_units: int,
    wallet: str,
    mint_key: str,
) -> None:
    """The history item of a new ledger entry (card top-up or paid subscription period). Caller flushes."""
    session.add(
        H(
            owner=user_owner(user_id),
            at=epoch(created_at),
            ref=f"{PAYMENT_PREFIX}{entry_id}",
            type=f"payment.{kind}",
            kind="card_top_up",
            direction="in",
            amount_cents=amount_cents,
            credit_units=credit_units,
            status="",
            receipt_id=entry_id,
            wallet=wallet,
            to_address=wallet,
            mint_key=mint_key,
        )
    )


def record_reversal(
    session: AsyncSession,
    *,
    reversal_id: int,
    user_id: int,
    kind: str,
    created_at: datetime | None,
    credit_units: int,
    entry_id: int,
    wallet: str,
) -> None:
    """The history item of a new refund or dispute of a ledger entry. Caller flushes."""
    session.add(
        H(
            owner=user_owner(user_id),
            at=epoch(created_at),
            ref=f"{REVERSAL_PREFIX}{reversal_id}",
            type=f"reversal.{kind}",
            kind="refund",
            direction="out",
            credit_units=credit_units,
            status="",
            receipt_id=entry_id,
            wallet=wallet,
            from_address=wallet,
        )
    )


@functools.cache
def _page_statement(owners: int, with_cursor: bool) -> Select[Any]:
    """The page statement for ``owners`` owners, bound parameters only (``o0..``, ``at``, ``id``, ``n``):
    built once per shape (building the nested column proxies cost more than running the query)."""
    table = H.__table__
    n = bindparam("n", type_=Integer)
    parts = []
    for k in range(owners):
        q = select(table).where(table.c.owner == bindparam(f"o{k}"))
        if with_cursor:
            q = q.where(tuple_(table.c.at, table.c.id) < tuple_(bindparam("at"), bindparam("id")))
        inner = q.order_by(table.c.at.desc(), table.c.id.desc()).limit(n).subquery()
        parts.append(select(inner))  # SQLite: no ORDER BY/LIMIT directly in a UNION member
    merged = union_all(*parts).subquery() if len(parts) > 1 else parts[0].subquery()
    return select(merged).order_by(merged.c.at.desc(), merged.c.id.desc()).limit(n)


async def page(
    session: AsyncSession, owners: Sequence[str], *, before: Cursor | None, limit: int
) -> tuple[list[Row[Any]], Cursor | None]:
    """Up to ``limit`` entries of ``owners``, newest first, strictly older than ``before`` (rows with the
    columns of ``wallet_history`` as attributes); and the cursor of the next page (``None``: the last).
    One statement (Core rows, no ORM objects)."""
    distinct = list(dict.fromkeys(owners))
    if not distinct or limit < 1:
        return [], None
    params: dict[str, Any] = {f"o{k}": owner for k, owner in enumerate(distinct)}
    params["n"] = limit + 1
    if before is not None:
        params["at"], params["id"] = before
    stmt = _page_statement(len(distinct), before is not None)
    rows = list((await session.execute(stmt, params)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    if not rows:
        return [], None
    last = rows[-1]
    return rows, ((int(last.at), int(last.id)) if more else None)
