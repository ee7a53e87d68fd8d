"""Create and list a provider's nodes; validate maintenance windows; build the wallet transactions.

Providers are wallet-connected: ``addNode`` and ``scheduleMaintenance`` are signed by the provider's own
wallet. The engine only hands out the unsigned transaction and learns the outcome from indexed events
(:mod:`engine.nodes.linking`); a window the chain refused simply never appears in the database.

The ``addNode`` calldata carries a *link reference* after its ABI arguments: one extra 32-byte word,
``LINK_MAGIC || node_id`` (the contract's ABI decoder ignores trailing calldata). When ``NodeAdded`` is
indexed, the subscriber reads the transaction input and links the on-chain id to exactly that database
node — robust against the provider sending several ``addNode`` in any order, or retrying one. If a wallet
strips the word (none known does), the fallback is the provider wallet's oldest unlinked node.

Nodes created without a ``wallet`` (the minimal form ``{"name"}``) are stored without a transaction; such
a node never becomes active and never gets placements until it is registered on chain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_utils.address import is_address, to_checksum_address
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.nodes.errors import (
    InvalidNode,
    InvalidWindow,
    NodeNotOnChain,
    NodeNotOwned,
    TooManyNodes,
    WalletNotLinked,
)
from engine.nodes.models import NODE_ACTIVE, WINDOW_SCHEDULED, MaintenanceWindow, Node

LINK_MAGIC = b"cloudmarket-node-ref\x00\x00\x00\x00"  # 24 bytes; the word's last 8 bytes are the node id
MAX_RESOURCE = 2**53  # JSON-safe and far above any real machine
MAX_PRICE = 2**63 - 1
MAX_ATTRIBUTES = 64


def link_word(node_id: int) -> bytes:
    """The 32-byte reference appended to ``addNode`` calldata for database node ``node_id``."""
    return LINK_MAGIC + node_id.to_bytes(8, "big")


def parse_link(calldata: bytes, abi_length: int = 4 + 32) -> int | None:
    """The node id in ``calldata``'s trailing link word, or ``None`` when there is none."""
    tail = calldata[abi_length:]
    if len(tail) != 32 or not tail.startswith(LINK_MAGIC):
        return None
    return int.from_bytes(tail[24:], "big")


@dataclass(frozen=True)
class NodeSpec:
    """What a provider declares about a node (integers only; prices in price units per unit-second)."""

    name: str
    wallet: str | None = None
    payee: str | None = None
    cpu_millicores: int = 0
    memory_mb: int = 0
    disk_gb: int = 0
    gpu_model: str | None = None
    gpu_count: int = 0
    bandwidth_mbps: int = 0
    region: str | None = None
    country: str | None = None
    price_per_cpu_millicore: int = 0
    price_per_memory_mb: int = 0
    price_per_disk_gb: int = 0
    price_per_gpu: int = 0
    attributes: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> NodeSpec:
        """From the API body (``resources``, ``prices``, ``location`` objects flattened)."""
        res = body.get("resources") or {}
        prices = body.get("prices") or {}
        gpu = res.get("gpu") or {}
        return cls(
            name=str(body["name"]).strip(),
            wallet=body.get("wallet"),
            payee=body.get("payee"),
            cpu_millicores=res.get("cpu_millicores", 0),
            memory_mb=res.get("memory_mb", 0),
            disk_gb=res.get("disk_gb", 0),
            gpu_model=gpu.get("model"),
            gpu_count=gpu.get("count", 0),
            bandwidth_mbps=res.get("bandwidth_mbps", 0),
            region=body.get("region"),
            country=body.get("country"),
            price_per_cpu_millicore=prices.get("per_cpu_millicore", 0),
            price_per_memory_mb=prices.get("per_memory_mb", 0),
            price_per_disk_gb=prices.get("per_disk_gb", 0),
            price_per_gpu=prices.get("per_gpu", 0),
            attributes=tuple(body.get("attributes") or ()),
        )


def _int(name: str, value: Any, top: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidNode(name, "must be an integer")
    if not 0 <= value <= top:
        raise InvalidNode(name, f"must be between 0 and {top}")
    return value


def validate_spec(spec: NodeSpec, *, wallets: Sequence[str], regions: Sequence[str]) -> NodeSpec:
    """Check every field; ``wallets`` are the caller's linked wallets, ``regions`` the operator's list."""
    if not spec.name or len(spec.name) > 100:
        raise InvalidNode("name", "1..100 characters")
    for name in ("cpu_millicores", "memory_mb", "disk_gb", "gpu_count", "bandwidth_mbps"):
        _int(name, getattr(spec, name), MAX_RESOURCE)
    for name in ("price_per_cpu_millicore", "price_per_memory_mb", "price_per_disk_gb", "price_per_gpu"):
        _int(name, getattr(spec, name), MAX_PRICE)
    if spec.gpu_count > 0 and not spec.gpu_model:
        raise InvalidNode("gpu.model", "required when gpu.count > 0")
    if spec.gpu_count == 0 and spec.gpu_model:
        raise InvalidNode("gpu.count", "must be > 0 when a gpu model is given")
    if spec.region is not None and spec.region not in regions:
        raise InvalidNode("region", f"unknown region {spec.region!r}; known: {', '.join(regions)}")
    if spec.country is not None and not (
        len(spec.country) == 2 and spec.country.isalpha() and spec.country.isupper()
    ):
        raise InvalidNode("country", "an ISO 3166-1 alpha-2 code such as 'DE'")
    if len(spec.attributes) > MAX_ATTRIBUTES or any(
        not isinstance(a, str) or not 1 <= len(a) <= 64 for a in spec.attributes
    ):
        raise InvalidNode("attributes", f"at most {MAX_ATTRIBUTES} strings of 1..64 characters")
    wallet = payee = None
    if spec.wallet is not None:
        if not is_address(spec.wallet):
            raise InvalidNode("wallet", "not an address")
        wallet = to_checksum_address(spec.wallet)
        if wallet not in {to_checksum_address(w) for w in wallets}:
            raise WalletNotLinked(wallet)
    if spec.payee is not None:
        if wallet is None:
            raise InvalidNode("payee", "a payee needs a wallet (the node is registered on chain by it)")
        if not is_address(spec.payee) or int(spec.payee, 16) == 0:
            raise InvalidNode("payee", "not a non-zero address")
        payee = to_checksum_address(spec.payee)
    attrs = tuple(dict.fromkeys(spec.attributes))
    return NodeSpec(**{**spec.__dict__, "wallet": wallet, "payee": payee, "attributes": attrs})


async def create_node(
    session: AsyncSession, provider_user_id: int, spec: NodeSpec, *, max_nodes: int | None = None
) -> Node:
    """Insert a validated node (``pending_chain``); flushes, does not commit."""
    if max_nodes is not None:
        count = await session.scalar(
            select(func.count()).select_from(Node).where(Node.provider_user_id == provider_user_id)
        )
        if int(count or 0) >= max_nodes:
            raise TooManyNodes(max_nodes)
    node = Node(
        provider_user_id=provider_user_id,
        name=spec.name,
        wallet_address=spec.wallet,
        payee=spec.payee,
        cpu_millicores=spec.cpu_millicores,
        memory_mb=spec.memory_mb,
        disk_gb=spec.disk_gb,
        gpu_model=spec.gpu_model,
        gpu_count=spec.gpu_count,
        bandwidth_mbps=spec.bandwidth_mbps,
        region=spec.region,
        country=spec.country,
        price_per_cpu_millicore=spec.price_per_cpu_millicore,
        price_per_memory_mb=spec.price_per_memory_mb,
        price_per_disk_gb=spec.price_per_disk_gb,
        price_per_gpu=spec.price_per_gpu,
        attributes=list(spec.attributes),
    )
    session.add(node)
    await session.flush()
    return node


async def list_nodes(
    session: AsyncSession, provider_user_id: int, *, limit: int | None = None, before_id: int | None = None
) -> list[Node]:
    """The provider's nodes, newest first: at most ``limit``, with an id below ``before_id``."""
    stmt = select(Node).where(Node.provider_user_id == provider_user_id)
    if before_id is not None:
        stmt = stmt.where(Node.id < before_id)
    stmt = stmt.order_by(Node.id.desc())
    if limit is not None:
        stmt = stmt.limit(limit)
    return list((await session.scalars(stmt)).all())


async def owned_node(session: AsyncSession, node_id: int, provider_user_id: int) -> Node:
    node = await session.get(Node, node_id)
    if node is None or node.provider_user_id != provider_user_id:
        raise NodeNotOwned(node_id)
    return node


async def windows_for(session: AsyncSession, node_ids: Sequence[int]) -> dict[int, list[MaintenanceWindow]]:
    """Scheduled (not cancelled) windows per node id, by start."""
    if not node_ids:
        return {}
    stmt = (
        select(MaintenanceWindow)
        .where(MaintenanceWindow.node_id.in_(node_ids), MaintenanceWindow.status == WINDOW_SCHEDULED)
        .order_by(MaintenanceWindow.start_at)
    )
    out: dict[int, list[MaintenanceWindow]] = {}
    for row in (await session.scalars(stmt)).all():
        out.setdefault(row.node_id, []).append(row)
    return out


@dataclass(frozen=True)
class WindowRules:
    """Least notice and longest window, seconds (operator settings, tightened by the chain's)."""

    min_notice: int
    max_length: int

    def stricter(self, min_notice: int, max_length: int) -> WindowRules:
        """The tighter of these rules and another set (e.g. the registry's current on-chain config), so a
        window passing them passes both: the API never hands out a transaction the chain will refuse."""
        return WindowRules(max(self.min_notice, min_notice), min(self.max_length, max_length))


async def check_maintenance(
    session: AsyncSession,
    node_id: int,
    provider_user_id: int,
    start: int,
    end: int,
    *,
    now: int,
    rules: WindowRules,
) -> Node:
    """Validate a window request against ownership, chain link and the rules; returns the node.

    ``now`` should be the chain's latest block time (the contract checks notice against it).
    """
    node = await owned_node(session, node_id, provider_user_id)
    if node.chain_node_id is None or node.status != NODE_ACTIVE or node.wallet_address is None:
        raise NodeNotOnChain(node_id)
    if end <= start:
        raise InvalidWindow("order", "end must be after start", start=start, end=end)
    if start < now + rules.min_notice:
        raise InvalidWindow(
            "notice",
            f"a window must start at least {rules.min_notice} s ahead (earliest {now + rules.min_notice})",
            earliest=now + rules.min_notice,
        )
    if end - start > rules.max_length:
        raise InvalidWindow(
            "too_long", f"a window may last at most {rules.max_length} s", limit=rules.max_length
        )
    if end >= 2**32:
        raise InvalidWindow("order", "times must fit uint32 Unix seconds")
    pending = [w for w in (await windows_for(session, [node.id])).get(node.id, []) if w.end_at > now]
    if pending:
        raise InvalidWindow("pending", "the node's previous window has not ended", end=pending[-1].end_at)
    return node


async def check_cancel_maintenance(
    session: AsyncSession, node_id: int, provider_user_id: int, *, now: int
) -> Node:
    """Check the node has a scheduled window that has not started at chain time ``now`` (what the
    registry's ``cancelMaintenance`` requires); returns the node."""
    node = await owned_node(session, node_id, provider_user_id)
    if node.chain_node_id is None or node.status != NODE_ACTIVE or node.wallet_address is None:
        raise NodeNotOnChain(node_id)
    upcoming = [w for w in (await windows_for(session, [node.id])).get(node.id, []) if w.start_at > now]
    if not upcoming:
        raise InvalidWindow("none", "the node has no scheduled window that has not started")
    return node


async def gpu_models(session: AsyncSession) -> set[str]:
    """Every GPU model some node offers (what a deployment spec may ask for)."""
    return {g for g in (await session.scalars(select(Node.gpu_model).distinct())).all() if g}


async def chain_linked_nodes(session: AsyncSession, provider_user_id: int) -> list[Node]:
    """The provider's nodes that have an on-chain node id, oldest first."""
    rows = await session.scalars(
        select(Node)
        .where(Node.provider_user_id == provider_user_id, Node.chain_node_id.is_not(None))
        .order_by(Node.id)
    )
    return list(rows.all())
