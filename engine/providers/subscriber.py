"""The indexer subscriber for ``ProviderRegistry`` events (wired by :mod:`engine.runtime`).

``MarketplaceSubscriber(sessionmaker, conn)`` is registered with ``EventIndexer.on_events``; for each
committed range it applies the registry's events in chain order in ONE database transaction: provider
status/collateral (:mod:`engine.providers.events`), node linking, payee, removal and maintenance windows
(:mod:`engine.nodes.linking`). ``NodeAdded`` needs the transaction input (the link word); it is read with
``eth_getTransactionByHash`` through ``conn`` (without a connection only the fallback rule applies).

Reorgs: each event's changes are journaled (:func:`engine.indexer.undo.track`) and reverted by the
indexer's rollback in its own transaction. Not handled yet: replay after a subscriber failure (the indexer
logs it and moves on).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chain.connect import ChainConnection
from engine.indexer import undo
from engine.indexer.interfaces import IndexedEvent
from engine.nodes import linking
from engine.nodes.services import parse_link
from engine.providers.events import apply_claim_event, apply_provider_event

log = logging.getLogger(__name__)

REGISTRY = "ProviderRegistry"


class MarketplaceSubscriber:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        conn: ChainConnection | None,
        *,
        tenants_of: linking.TenantsOf = linking.no_tenants,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.conn = conn
        self.tenants_of = tenants_of

    async def _link_ref(self, tx_hash: str) -> int | None:
        if self.conn is None:
            return None
        try:
            w3: Any = self.conn.w3
            tx: Any = await w3.eth.get_transaction(tx_hash)
        except Exception:  # an unreachable node must not lose the event: fall back to the order rule
            log.warning("could not read addNode input %s; linking by order", tx_hash)
            return None
        raw = tx.get("input", b"")
        data = bytes.fromhex(raw[2:]) if isinstance(raw, str) else bytes(raw)
        return parse_link(data)

    async def __call__(self, events: Sequence[IndexedEvent]) -> None:
        mine = [e for e in events if e.contract == REGISTRY]
        if not mine:
            return
        async with self.sessionmaker() as session, session.begin():
            for event in mine:
                await undo.track(session, event)  # journaled: a reorg's rollback reverts it
                await self.apply(session, event)

    async def apply(self, session: AsyncSession, event: IndexedEvent) -> None:
        name = event.event
        if await apply_provider_event(session, event) is not None:
            return
        if await apply_claim_event(session, event) is not None:
            return
        if name == "NodeAdded":
            await linking.link_node(
                session,
                chain_node_id=event.int_arg("nodeId"),
                provider=str(event.args["provider"]),
                payee=str(event.args["payee"]),
                tx_hash=event.tx_hash,
                ref_node_id=await self._link_ref(event.tx_hash),
            )
        elif name == "NodePayeeSet":
            await linking.set_payee(session, event.int_arg("nodeId"), str(event.args["payee"]))
        elif name == "NodeRemoved":
            await linking.remove_node(session, event.int_arg("nodeId"))
        elif name == "MaintenanceScheduled":
            await linking.record_window(
                session,
                chain_node_id=event.int_arg("nodeId"),
                start=event.int_arg("start"),
                end=event.int_arg("end"),
                tx_hash=event.tx_hash,
                log_index=event.log_index,
                block_number=event.block_number,
                tenants_of=self.tenants_of,
            )
        elif name == "MaintenanceCancelled":
            await linking.cancel_window(session, event.int_arg("nodeId"))
