"""Node commands: add and list a provider's nodes, schedule or cancel a maintenance window.

The provider's wallet signs ``addNode`` / ``scheduleMaintenance`` / ``cancelMaintenance``: these commands
return the unsigned transactions and learn the outcome from indexed events (:mod:`engine.nodes.linking`).
Limits come from the operator's settings (:mod:`engine.operator.config`): ``regions``,
``max_nodes_per_provider``, and for maintenance the stricter of ``maintenance_min_notice`` /
``maintenance_max_window`` and the registry's on-chain config (a change not yet applied on chain must
not let through a window the chain would refuse). Each command owns its transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chain.contracts import UnsignedTx
from engine.context import Context
from engine.nodes import services
from engine.nodes.models import MaintenanceWindow, Node
from engine.operator.config import current_settings
from engine.pagination import DEFAULT_LIMIT, Page, clamp_limit, decode_cursor


@dataclass(frozen=True)
class NodeView:
    node: Node
    windows: tuple[MaintenanceWindow, ...] = ()


@dataclass(frozen=True)
class AddedNode:
    node: Node
    transactions: tuple[UnsignedTx, ...]  # ``addNode`` when the node has a wallet, else none


@dataclass(frozen=True)
class MaintenanceTxs:
    node_id: int
    chain_node_id: int
    transactions: tuple[UnsignedTx, ...]


async def add_node(ctx: Context, user_id: int, wallets: Sequence[str], spec: services.NodeSpec) -> AddedNode:
    """Validate and store a node (``pending_chain``); with a wallet, build its ``addNode`` transaction.

    Raises :class:`~engine.nodes.errors.InvalidNode` (a field is wrong, or the region is not one of the
    operator's ``regions``), :class:`~engine.nodes.errors.WalletNotLinked` (wallet not the caller's),
    :class:`~engine.nodes.errors.TooManyNodes` (``max_nodes_per_provider`` reached),
    :class:`~engine.errors.ContractMissing` (a wallet given, but no registry on this chain)."""
    async with ctx.sessionmaker() as session, session.begin():
        cfg = await current_settings(session, ctx.settings)
        clean = services.validate_spec(spec, wallets=wallets, regions=cfg.regions)
        node = await services.create_node(session, user_id, clean, max_nodes=cfg.max_nodes_per_provider)
    if node.wallet_address is None:
        return AddedNode(node, ())
    registry = ctx.contracts.require_registry()
    tx = UnsignedTx(
        registry.address,
        registry.encode_add_node(node.payee) + services.link_word(node.id),
        ctx.chain_id,
        from_address=node.wallet_address,
        description=f"register node {node.id} on chain",
    )
    return AddedNode(node, (tx,))


async def list_nodes(
    ctx: Context, user_id: int, *, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> Page[NodeView]:
    """A page of the provider's nodes, newest first, each with its scheduled maintenance windows: at most
    ``limit`` (clamped to 1..200), after the one ``cursor`` names (a previous page's ``next_cursor``).

    Raises :class:`~engine.pagination.BadCursor` (400 ``bad_cursor``)."""
    before = decode_cursor(cursor)
    limit = clamp_limit(limit)
    async with ctx.sessionmaker() as session:
        rows = await services.list_nodes(session, user_id, limit=limit + 1, before_id=before)
        page = Page.of(rows, limit, _id_of)
        windows = await services.windows_for(session, [n.id for n in page.items])
    return Page([NodeView(n, tuple(windows.get(n.id, ()))) for n in page.items], page.next_cursor)


def _id_of(node: Node) -> int:
    return node.id


async def schedule_maintenance(
    ctx: Context, user_id: int, node_id: int, start: int, end: int
) -> MaintenanceTxs:
    """Check a window ``[start, end)`` (Unix seconds, chain time) and build ``scheduleMaintenance``.

    Raises :class:`~engine.nodes.errors.NodeNotOwned` (unknown node or another provider's),
    :class:`~engine.nodes.errors.NodeNotOnChain` (its ``addNode`` is not indexed yet),
    :class:`~engine.nodes.errors.InvalidWindow` (order, notice, length, or a window still pending),
    :class:`~engine.errors.ContractMissing` (no registry on this chain)."""
    registry = ctx.contracts.require_registry()
    now = await ctx.chain_now()
    chain_cfg = await registry.config()
    async with ctx.sessionmaker() as session:
        cfg = await current_settings(session, ctx.settings)
        rules = services.WindowRules(cfg.maintenance_min_notice, cfg.maintenance_max_window).stricter(
            chain_cfg.min_notice, chain_cfg.max_window_length
        )
        node = await services.check_maintenance(session, node_id, user_id, start, end, now=now, rules=rules)
    assert node.chain_node_id is not None and node.wallet_address is not None  # check_maintenance ensures
    tx = UnsignedTx(
        registry.address,
        registry.encode_schedule_maintenance(node.chain_node_id, start, end),
        ctx.chain_id,
        from_address=node.wallet_address,
        description="schedule maintenance",
    )
    return MaintenanceTxs(node.id, node.chain_node_id, (tx,))


async def cancel_maintenance(ctx: Context, user_id: int, node_id: int) -> MaintenanceTxs:
    """Build ``cancelMaintenance`` for the node's scheduled window that has not started yet.

    Raises :class:`~engine.nodes.errors.NodeNotOwned` (unknown node or another provider's),
    :class:`~engine.nodes.errors.NodeNotOnChain` (its ``addNode`` is not indexed yet),
    :class:`~engine.nodes.errors.InvalidWindow` (``none``: no window that has not started),
    :class:`~engine.errors.ContractMissing` (no registry on this chain)."""
    registry = ctx.contracts.require_registry()
    now = await ctx.chain_now()
    async with ctx.sessionmaker() as session:
        node = await services.check_cancel_maintenance(session, node_id, user_id, now=now)
    assert node.chain_node_id is not None and node.wallet_address is not None  # checked above
    tx = UnsignedTx(
        registry.address,
        registry.encode_cancel_maintenance(node.chain_node_id),
        ctx.chain_id,
        from_address=node.wallet_address,
        description="cancel maintenance",
    )
    return MaintenanceTxs(node.id, node.chain_node_id, (tx,))
