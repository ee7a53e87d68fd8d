"""engine.wallets.history.page: the keyset walk reaches every entry of the owners asked, once, newest first
(ties on ``at`` broken by id), and nothing of other owners; the migration builds the table the model
describes."""

from __future__ import annotations

import random

import pytest
import sqlalchemy as sa
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from engine import db
from engine.wallets.history import page, user_owner, wallet_owner
from engine.wallets.models import WalletHistoryEntry
from tests.conftest import new_database_url
from tests.support.migrations import assert_tables_match_models


async def test_walk_reaches_every_entry_once_in_order(db_session: AsyncSession) -> None:
    rng = random.Random(3)
    owners = [user_owner(7), wallet_owner("0xAbC0000000000000000000000000000000000001"), user_owner(8)]
    rows = [
        {
            "owner": owners[i % 3],
            "at": 1_700_000_000 + rng.randrange(40),  # many equal times
            "ref": f"chain:{i}:0",
            "type": "chain.Transfer",
            "kind": "transfer",
            "direction": "in",
            "status": "final",
            "credit_units": i,
        }
        for i in range(300)
    ]
    await db_session.execute(insert(WalletHistoryEntry), rows)
    mine = owners[:2]
    seen: list[tuple[int, int]] = []
    cursor = None
    while True:
        items, cursor = await page(db_session, mine, before=cursor, limit=7)
        assert len(items) <= 7
        assert all(i.owner in mine for i in items)
        seen += [(i.at, i.id) for i in items]
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True)
    assert len(seen) == len(set(seen)) == sum(1 for r in rows if r["owner"] in mine)
    assert (await page(db_session, [], before=None, limit=5)) == ([], None)


async def test_migration_builds_the_history_table(database_url: str) -> None:
    await assert_tables_match_models(database_url, ["wallet_history"])


async def test_migration_backfills_payments_and_reversals(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> None:
    url = new_database_url("sqlite", tmp_path_factory, request)
    await db.upgrade(url, "0021_sla")
    eng = db.make_engine(url)
    wallet = "0x" + "Ab" * 20
    try:
        async with eng.begin() as conn:
            await conn.execute(
                sa.text("INSERT INTO users (id, sub, settings, created_at) VALUES (5, 'x', '{}', :t)"),
                {"t": "2026-12-01 10:00:00.000000"},
            )
            await conn.execute(
                sa.text(
                    "INSERT INTO ledger_entries (id, business_key, user_id, kind, currency, amount_cents, "
                    "refunded_cents, credit_units, wallet_address, wallet_kind, mint_ref, mint_key, source, "
                    "created_at) VALUES (9, 'pi_1', 5, 'topup', 'usd', 1000, 0, 10000000, :w, 'siwe', '0x', "
                    "'mint:pi_1', 'test', '2026-12-01 10:00:00.000000')"
                ),
                {"w": wallet},
            )
            await conn.execute(
                sa.text(
                    "INSERT INTO reversals (id, business_key, ledger_entry_id, user_id, kind, credit_units, "
                    "action, clawback_units, debt_units, created_at, updated_at) VALUES (3, 're_1', 9, 5, "
                    "'refund', 400, 'pending', 0, 0, '2026-12-01 11:00:00.000000', '2026-12-01 11:00:00')"
                )
            )
    finally:
        await eng.dispose()
    await db.upgrade(url)
    eng = db.make_engine(url)
    try:
        async with eng.connect() as conn:
            session = AsyncSession(bind=conn)
            items, cursor = await page(session, [user_owner(5)], before=None, limit=10)
    finally:
        await eng.dispose()
    assert cursor is None
    assert [(i.ref, i.kind, i.direction, i.at, i.wallet) for i in items] == [
        ("reversal:3", "refund", "out", 1_796_122_800, wallet),
        ("payment:9", "card_top_up", "in", 1_796_119_200, wallet),
    ]
