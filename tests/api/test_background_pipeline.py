"""The service's background tasks together: an outbox row becomes a mint, which the indexer records."""

from __future__ import annotations

import asyncio
import secrets

from eth_account import Account

from api.app import create_app
from chain.contracts import CreditTokenClient
from engine.indexer.services import events_by_ref, get_cursor
from engine.outbox.services import enqueue
from tests.api.conftest import serve


async def test_outbox_mint_is_sent_then_indexed(eth_runtime):
    token = CreditTokenClient(eth_runtime.chain.w3, eth_runtime.manifest.address("CreditToken"))
    to = str(Account.create().address)
    ref = secrets.token_bytes(32)
    async with eth_runtime.sessionmaker() as session, session.begin():
        await enqueue(
            session,
            kind="mint",
            to=token.address,
            data=token.encode_mint(to, 4_200_000, ref),
            idempotency_key=f"pipeline-{ref.hex()}",
            args={"to": to},
        )
    async with serve(create_app(eth_runtime)):
        for _ in range(200):
            async with eth_runtime.sessionmaker() as session:
                events = await events_by_ref(session, eth_runtime.chain.chain_id, ref)
            if events:
                break
            await asyncio.sleep(0.05)
    assert [e.event for e in events] == ["CreditMinted"]
    assert events[0].int_arg("amount") == 4_200_000
    assert await token.balance_of(to) == 4_200_000
    async with eth_runtime.sessionmaker() as session:
        cursor = await get_cursor(session, eth_runtime.chain.chain_id)
    assert cursor is not None and cursor.block_number >= events[0].block_number
