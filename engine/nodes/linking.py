"""Apply indexed registry events to nodes: link ``NodeAdded`` to its database node, follow payee changes
and removals, record maintenance windows, and notify tenants of nodes going into maintenance.

Linking rule (see :mod:`engine.nodes.services`): the ``addNode`` input's trailing link word names the
database node; it must belong to the event's provider wallet and be unlinked. Without a link word the
provider wallet's oldest unlinked node is taken. An ``addNode`` sent outside the API (no matching row) is
ignored. Every function here is idempotent: replaying an event changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from eth_utils.address import to_checksum_address
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.nodes.models import (
    NODE_ACTIVE,
    NODE_PENDING_CHAIN,
    NODE_REMOVED,
    WINDOW_CANCELLED,
    WINDOW_SCHEDULED,
    MaintenanceWindow,
    Node,
    Notification,
)

TenantsOf = Callable[[AsyncSession, int], Awaitable[Sequence[int]]]
"""``(session, node_id) -> user ids`` with running workloads on the node."""

MAINTENANCE_NOTICE = "maintenance_scheduled"


async def no_tenants(session: AsyncSession, node_id: int) -> Sequence[int]:
    """The tenants hook until deployments exist: nobody runs on a node yet."""
    return ()


async def link_node(
    session: AsyncSession,
    *,
    chain_node_id: int,
    provider: str,
    payee: str,
    tx_hash: str,
    ref_node_id: int | None,
) -> Node | None:
    """Link on-chain node ``chain_node_id`` to its database node; returns it (``None``: not ours)."""
    existing = (await session.scalars(select(Node).where(Node.chain_node_id == chain_node_id))).one_or_none()
    if existing is not None:
        return existing
    provider = to_checksum_address(provider)
    node: Node | None = None
    if ref_node_id is not None:
        cand = await session.get(Node, ref_node_id)
        if cand is not None and cand.wallet_address == provider and cand.chain_node_id is None:
            node = cand
    if node is None:
        stmt = (
            select(Node)
            .where(
                Node.wallet_address == provider,
                Node.chain_node_id.is_(None),
                Node.status == NODE_PENDING_CHAIN,
            )
            .order_by(Node.id)
            .limit(1)
        )
        node = (await session.scalars(stmt)).one_or_none()
    if node is None:
        return None
    node.chain_node_id = chain_node_id
    node.add_tx_hash = tx_hash
    node.status = NODE_ACTIVE
    node.payee = to_checksum_address(payee)  # the chain's payee as is (the provider itself by default)
    await session.flush()
    return node


async def _by_chain_id(session: AsyncSession, chain_node_id: int) -> Node | None:
    return (await session.scalars(select(Node).where(Node.chain_node_id == chain_node_id))).one_or_none()


async def set_payee(session: AsyncSession, chain_node_id: int, payee: str) -> None:
    node = await _by_chain_id(session, chain_node_id)
    if node is not None:
        node.payee = to_checksum_address(payee)


async def remove_node(session: AsyncSession, chain_node_id: int) -> None:
    node = await _by_chain_id(session, chain_node_id)
    if node is not None:
        node.status = NODE_REMOVED


async def record_window(
    session: AsyncSession,
    *,
    chain_node_id: int,
    start: int,
    end: int,
    tx_hash: str,
    log_index: int,
    block_number: int,
    tenants_of: TenantsOf = no_tenants,
) -> MaintenanceWindow | None:
    """Store a ``MaintenanceScheduled`` window once and notify the node's tenants."""
    node = await _by_chain_id(session, chain_node_id)
    if node is None:
        return None
    stmt = select(MaintenanceWindow).where(
        MaintenanceWindow.tx_hash == tx_hash, MaintenanceWindow.log_index == log_index
    )
    existing = (await session.scalars(stmt)).one_or_none()
    if existing is not None:
        return existing
    window = MaintenanceWindow(
        node_id=node.id,
        chain_node_id=chain_node_id,
        start_at=start,
        end_at=end,
        status=WINDOW_SCHEDULED,
        tx_hash=tx_hash,
        log_index=log_index,
        block_number=block_number,
    )
    session.add(window)
    await session.flush()
    await notify_users(session, await tenants_of(session, node.id), node, window)
    return window


async def cancel_window(session: AsyncSession, chain_node_id: int, *, now: int | None = None) -> None:
    """``MaintenanceCancelled``: the node's latest scheduled window that has not started is cancelled."""
    stmt = (
        select(MaintenanceWindow)
        .where(MaintenanceWindow.chain_node_id == chain_node_id, MaintenanceWindow.status == WINDOW_SCHEDULED)
        .order_by(MaintenanceWindow.start_at.desc())
        .limit(1)
    )
    window = (await session.scalars(stmt)).one_or_none()
    if window is not None and (now is None or window.start_at > now):
        window.status = WINDOW_CANCELLED


async def notify_users(
    session: AsyncSession, user_ids: Sequence[int], node: Node, window: MaintenanceWindow
) -> int:
    """One ``maintenance_scheduled`` notification per user (deduplicated per window); returns how many
    were new."""
    payload: dict[str, Any] = {
        "node_id": node.id,
        "node_name": node.name,
        "start": window.start_at,
        "end": window.end_at,
    }
    key = f"maintenance:{window.tx_hash}:{window.log_index}"
    added = 0
    for user_id in dict.fromkeys(user_ids):
        stmt = select(Notification.id).where(Notification.user_id == user_id, Notification.dedupe_key == key)
        if (await session.scalars(stmt)).first() is not None:
            continue
        session.add(Notification(user_id=user_id, kind=MAINTENANCE_NOTICE, dedupe_key=key, payload=payload))
        added += 1
    await session.flush()
    return added
