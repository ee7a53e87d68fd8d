"""Nonce allocation: one row per (signer address, chain id) holding ``next_nonce``, locked while in use.

PostgreSQL: ``SELECT .. FOR UPDATE`` on that row serializes every sender that signs with the address.
SQLite: ``engine.db`` begins every transaction with ``BEGIN IMMEDIATE``, so writers are serialized
already (``FOR UPDATE`` is not emitted there).

The row is created from the chain's pending transaction count. Each time it is locked, a chain count
above ``next_nonce`` (someone else used the key) moves it forward and is logged; a lower chain count
never moves it back (our signed-but-unsent transactions hold those nonces).
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from engine.outbox.models import SignerNonce, utcnow

log = logging.getLogger(__name__)


async def lock_nonce(session: AsyncSession, address: str, chain_id: int, chain_pending: int) -> SignerNonce:
    """Lock (creating if needed) the nonce row; call inside the transaction that uses the nonces."""
    address = address.lower()
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(
        insert(SignerNonce)
        .values(address=address, chain_id=chain_id, next_nonce=chain_pending, updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["address", "chain_id"])
    )
    row = (
        await session.execute(
            select(SignerNonce)
            .where(SignerNonce.address == address, SignerNonce.chain_id == chain_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    if chain_pending > row.next_nonce:
        log.warning(
            "signer %s: chain nonce %d is ahead of outbox nonce %d (key used elsewhere); moving on",
            address,
            chain_pending,
            row.next_nonce,
        )
        row.next_nonce = chain_pending
    return row
