"""Wallet history pages (``GET /api/wallet/transactions``): the keyset walk over ``wallet_history`` vs a raw
SQL floor, at 100 / 10,000 / 100,000 entries.

* ours: :func:`engine.wallets.history.page` for a user with a payments owner and two linked wallets (three
  keyset range scans merged, then the page's rows loaded), a page of 50.
* floor: the same SQL written by hand (a keyset range scan per owner, merged, ``LIMIT 50``) through the raw
  driver connection (asyncpg / sqlite3, no SQLAlchemy): what the database itself needs for the page.
* The old approach (read up to 500 ledger rows and 500 indexed events per wallet, merge and sort in Python,
  older entries unreachable) is gone with its code; its measured cost was 21-46 ms per page at >= 500
  events (issue 15).

Pages: the newest, and one in the middle of the history (the cursor of the entry at half its length), so a
cost that grows with depth would show. Each size and backend on its own fresh database, both sides
interleaved, ``ROUNDS`` rounds of 20 pages; milliseconds per page, median (min-max) over rounds.
Run: ``.venv/bin/python bench/wallet_history.py [SIZES]``.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._report import ROUNDS, compared, on_both_backends, table, write_section
from engine import db
from engine.wallets.history import page, user_owner, wallet_owner
from engine.wallets.models import WalletHistoryEntry

OWNERS = [user_owner(1), wallet_owner("0x" + "a1" * 20), wallet_owner("0x" + "b2" * 20)]
LIMIT = 50
PAGES = 20


async def seed(session: AsyncSession, size: int) -> None:
    rng = random.Random(5)
    await session.execute(
        text("INSERT INTO users (id, sub, settings, created_at) VALUES (1, 'bench', '{}', CURRENT_TIMESTAMP)")
    )
    rows = [
        {
            "owner": rng.choice(OWNERS),
            "at": 1_700_000_000 + i * 7 + rng.randrange(5),
            "ref": f"chain:{i}:0",
            "type": "chain.Transfer",
            "kind": "transfer",
            "direction": "in",
            "status": "",
            "credit_units": i,
            "block_number": i,
        }
        for i in range(size)
    ]
    # another user's history beside it: the walk must not read it
    rows += [{**r, "owner": user_owner(2), "ref": r["ref"] + "x"} for r in rows[: size // 2]]
    for k in range(0, len(rows), 5_000):
        await session.execute(insert(WalletHistoryEntry), rows[k : k + 5_000])
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("ANALYZE wallet_history"))


def floor_sql(mark: Callable[[int], str]) -> str:
    """The same page as ours, by hand: one keyset range scan per owner, merged, newest first."""
    parts = [
        f"SELECT * FROM (SELECT * FROM wallet_history WHERE owner = {mark(k + 1)} "  # noqa: S608
        f"AND (at, id) < ({mark(4)}, {mark(5)}) ORDER BY at DESC, id DESC LIMIT {mark(6)}) AS p{k}"
        for k in range(len(OWNERS))
    ]
    merged = " UNION ALL ".join(parts)
    return f"SELECT * FROM ({merged}) AS u ORDER BY at DESC, id DESC LIMIT {mark(6)}"  # noqa: S608


PG_FLOOR = floor_sql(lambda n: f"${n}")
SQLITE_FLOOR = floor_sql(lambda n: f"?{n}")


async def floor_page(session: AsyncSession, before: tuple[int, int]) -> int:
    """The floor: the same SQL through the raw driver connection (no SQLAlchemy on the way)."""
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    args = (*OWNERS, before[0], before[1], LIMIT)
    if session.get_bind().dialect.name == "postgresql":
        return len(await driver.fetch(PG_FLOOR, *args))
    cur = await driver.execute(SQLITE_FLOOR, args)
    return len(await cur.fetchall())


async def per_page(run: Callable[[], Awaitable[int]]) -> float:
    t0 = time.perf_counter()
    for _ in range(PAGES):
        assert await run() > 0
    return (time.perf_counter() - t0) * 1000 / PAGES


async def one(url: str, backend: str, size: int) -> list[list[str]]:
    await db.upgrade(url)
    engine = db.make_engine(url)
    rows: list[list[str]] = []
    try:
        async with engine.connect() as conn:
            session = AsyncSession(bind=conn, expire_on_commit=False)
            await seed(session, size)
            await session.commit()
            top = (2**62, 2**62)
            ordered = (
                await session.execute(
                    text(
                        "SELECT at, id FROM wallet_history WHERE owner IN (:a, :b, :c) "
                        "ORDER BY at DESC, id DESC LIMIT 1 OFFSET :k"
                    ),
                    {"a": OWNERS[0], "b": OWNERS[1], "c": OWNERS[2], "k": size // 2},
                )
            ).one()
            middle = (int(ordered[0]), int(ordered[1]))
            for label, before in (("newest", top), ("middle", middle)):
                cursor = None if before == top else before

                async def ours(c: tuple[int, int] | None = cursor) -> int:
                    items, _ = await page(session, OWNERS, before=c, limit=LIMIT)
                    return len(items)

                async def floor(b: tuple[int, int] = before) -> int:
                    return await floor_page(session, b)

                mine: list[float] = []
                limit: list[float] = []
                for _ in range(ROUNDS):
                    mine.append(await per_page(ours))
                    limit.append(await per_page(floor))
                rows.append(
                    compared([backend, f"{size:,}", label], mine, limit, "{:.2f}", "{:.1f}x", invert=True)
                )
                print(" | ".join(rows[-1]), flush=True)
    finally:
        await engine.dispose()
    return rows


async def main(sizes: list[int]) -> None:
    rows = await on_both_backends(one, sizes, "history")
    body = (
        f"Milliseconds per page of {LIMIT} (3 owners: payments + 2 linked wallets; another user's rows "
        f"beside them), median (min-max) of {ROUNDS} interleaved rounds of {PAGES} pages. `floor`: the same "
        "SQL by hand through the raw driver. Machine and load: the RESULTS.md header.\n\n"
        + table(["backend", "entries", "page", "ours ms", "floor ms", "ours / floor"], rows)
    )
    write_section("wallet_history", "Wallet history pages, keyset over one table (issue 15 §3)", body)


if __name__ == "__main__":
    arg = sys.argv[1] if len(sys.argv) > 1 else "100,10000,100000"
    asyncio.run(main([int(x) for x in arg.split(",")]))
