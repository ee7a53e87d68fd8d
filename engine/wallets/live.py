"""Live wallets: tell a user's console that their balances may have changed (issue 14).

:class:`WalletChanges` is an indexer subscriber (registered with ``EventIndexer.on_events`` and
``on_rollback`` by :func:`subscribe`, called by :mod:`engine.runtime`): after the indexer COMMITTED a
range of events (or the rollback of a reorg), it collects every address among the events' arguments
(``Transfer`` from/to, ``CreditMinted`` to, ``LeaseToppedUp`` from, ``Staked`` account, ...), finds the
users who own those wallets (``wallet_links``, linked and managed wallets alike) in one query, and
publishes :func:`engine.notify.topics.wallet` for each, with the highest block number of their events as
the payload. The hub carries it to every process (PostgreSQL ``LISTEN/NOTIFY``), where the user's
notifications SSE stream turns it into an ``event: wallet`` (``api.routes.notifications``) and the
console re-reads balances and runway.

Like every hub message it is a wake-up, never data: a lost one costs latency (the console also re-reads
on a slow timer), a spurious one costs a re-read.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from typing import Any

from eth_utils.address import to_checksum_address
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from engine.identity.models import WalletLink
from engine.indexer.interfaces import IndexedEvent
from engine.notify import Hub, NotifyError, topics

log = logging.getLogger(__name__)

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
ZERO_ADDRESS = "0x" + "0" * 40


def _addresses(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        if _ADDRESS.match(value) and value.lower() != ZERO_ADDRESS:
            yield value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _addresses(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _addresses(item)


def touched_addresses(events: Sequence[IndexedEvent]) -> dict[str, int]:
    """Lower-case address -> the highest block among ``events`` whose arguments name it."""
    out: dict[str, int] = {}
    for event in events:
        for address in _addresses(event.args):
            key = address.lower()
            out[key] = max(out.get(key, 0), event.block_number)
    return out


async def users_of(session: AsyncSession, addresses: Iterable[str]) -> dict[int, list[str]]:
    """user id -> the lower-case addresses among ``addresses`` linked to that user."""
    wanted = {a.lower() for a in addresses}
    if not wanted:
        return {}
    # wallet_links.address is EIP-55 (unique index): look the checksummed forms up
    rows = await session.execute(
        select(WalletLink.user_id, WalletLink.address).where(
            WalletLink.address.in_([to_checksum_address(a) for a in wanted])
        )
    )
    out: dict[int, list[str]] = {}
    for user_id, address in rows.all():
        out.setdefault(int(user_id), []).append(str(address).lower())
    return out


class WalletChanges:
    """Indexer subscriber: publish ``wallet:<user id>`` for every user whose wallet the events touched."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], hub: Hub | None) -> None:
        self.sessionmaker = sessionmaker
        self.hub = hub

    async def __call__(self, events: Sequence[IndexedEvent]) -> list[int]:
        """Returns the user ids published to (in order)."""
        if self.hub is None or not events:
            return []
        touched = touched_addresses(events)
        if not touched:
            return []
        async with self.sessionmaker() as session:
            owners = await users_of(session, touched)
        published = []
        for user_id in sorted(owners):
            block = max(touched[a] for a in owners[user_id])
            try:
                await self.hub.publish(topics.wallet(user_id), str(block))
            except NotifyError:  # a wake-up only: never stop the indexer's subscribers for it
                log.warning("wallet change for user %s not published", user_id, exc_info=True)
                continue
            published.append(user_id)
        return published


def subscribe(indexer: Any, sessionmaker: async_sessionmaker[AsyncSession], hub: Hub | None) -> WalletChanges:
    """Register :class:`WalletChanges` after the indexer's commits: new events and reorg rollbacks (both
    change what the chain says a wallet holds). Register it LAST, so the subscribers that derive rows
    from the same events (leases, deployments) have committed them when a console re-reads."""
    changes = WalletChanges(sessionmaker, hub)
    indexer.on_events(changes)
    indexer.on_rollback(changes)
    return changes
