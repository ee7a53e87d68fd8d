"""Objects for the node-agent tests, written straight to the database (fast, no chain), and lease events
applied through the real escrow subscriber (the same code the indexer calls, publishing after commit)."""

from __future__ import annotations

import itertools
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from sqlalchemy import select

from engine.deployments import models as m
from engine.deployments.events import EscrowSubscriber
from engine.identity.node_tokens import issue_node_token
from engine.identity.services import ensure_user
from engine.indexer.interfaces import IndexedEvent
from engine.nodes.models import NODE_ACTIVE, Node
from engine.runtime import Runtime

_chain_ids = itertools.count(secrets.randbelow(10**9) * 1000 + 10**12)
_lease_ids = itertools.count(secrets.randbelow(10**9) * 1000 + 10**15)
_logs = itertools.count(1)

SPEC = {
    "v": 1,
    "image": None,
    "command": ["sleep", "3600"],
    "env": {"MODE": "test"},
    "ports": [{"port": 8080, "protocol": "tcp"}],
    "resources": {"cpu_millicores": 250, "memory_mb": 128, "disk_gb": 1, "gpu": None},
    "replicas": 1,
}


@dataclass
class AgentNode:
    id: int
    chain_node_id: int
    token: str
    provider_user_id: int

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def make_user(runtime: Runtime, prefix: str = "agent-user") -> int:
    async with runtime.sessionmaker() as session:
        user = await ensure_user(session, f"dev|{prefix}-{uuid.uuid4().hex[:10]}")
        await session.commit()
        return user.id


async def make_node(
    runtime: Runtime, provider_user_id: int | None = None, region: str = "eu-west"
) -> AgentNode:
    """An active node linked to a fresh on-chain id, with a node token."""
    owner = provider_user_id or await make_user(runtime, "agent-provider")
    chain_node_id = next(_chain_ids)
    async with runtime.sessionmaker() as session:
        node = Node(
            provider_user_id=owner,
            name=f"agent-node-{chain_node_id}",
            chain_node_id=chain_node_id,
            status=NODE_ACTIVE,
            region=region,
            country="DE",
            wallet_address=Account.create().address,
            cpu_millicores=4000,
            memory_mb=8192,
            disk_gb=100,
        )
        session.add(node)
        await session.commit()
        issued = await issue_node_token(session, node.id, owner)
    return AgentNode(node.id, chain_node_id, issued.token, owner)


async def make_deployment(
    runtime: Runtime, user_id: int, nodes: list[AgentNode], *, status: str = m.FUNDING
) -> tuple[int, list[int]]:
    """A deployment with one primary lease awaiting funds per node (replica i on nodes[i])."""
    spec_hash = "0x" + secrets.token_hex(32)
    async with runtime.sessionmaker() as session:
        dep = m.Deployment(
            user_id=user_id,
            spec=SPEC,
            spec_hash=spec_hash,
            status=status,
            replicas=len(nodes),
            rate_per_second=10 * len(nodes),
            payer=Account.create().address,
            funding=m.FUNDING_WALLET,
        )
        session.add(dep)
        await session.flush()
        session.add(
            m.DeploymentTransition(deployment_id=dep.id, from_status=None, to_status=status, reason="created")
        )
        leases = []
        for i, node in enumerate(nodes):
            lease = m.Lease(
                deployment_id=dep.id,
                replica_index=i,
                role=m.PRIMARY,
                node_id=node.id,
                chain_node_id=node.chain_node_id,
                rate_per_second=10,
                deposit=1000,
                status=m.AWAITING_FUNDS,
            )
            session.add(lease)
            leases.append(lease)
        await session.commit()
        return dep.id, [x.id for x in leases]


def _event(name: str, args: dict[str, Any]) -> IndexedEvent:
    n = next(_logs)
    return IndexedEvent(
        chain_id=1,
        block_number=n,
        block_hash="0x" + "00" * 32,
        tx_hash="0x" + secrets.token_hex(32),
        log_index=0,
        contract="DeploymentEscrow",
        address="0x" + "00" * 20,
        event=name,
        args=args,
        ref=None,
        final=True,
    )


async def open_lease(runtime: Runtime, deployment_id: int, node: AgentNode) -> str:
    """Apply a ``LeaseOpened`` for the deployment's lease on ``node`` through the escrow subscriber
    (commit, then wake-ups). Returns the on-chain lease id."""
    async with runtime.sessionmaker() as session:
        dep = await session.get(m.Deployment, deployment_id)
        assert dep is not None
        payer, spec_hash = dep.payer, dep.spec_hash
        quoted = await session.scalar(  # the quoted rate: the indexer rejects a lease at other terms
            select(m.Lease.rate_per_second).where(
                m.Lease.deployment_id == deployment_id,
                m.Lease.chain_node_id == node.chain_node_id,
                m.Lease.status == m.AWAITING_FUNDS,
            )
        )
    lease_id = str(next(_lease_ids))
    args = {
        "leaseId": lease_id,
        "payer": payer,
        "nodeId": str(node.chain_node_id),
        "ratePerSecond": str(quoted if quoted is not None else 10),
        "deposit": "1000",
        "specHash": spec_hash,
        "discountBps": "0",
    }
    await EscrowSubscriber(runtime.sessionmaker, None, runtime.hub)([_event("LeaseOpened", args)])
    return lease_id


async def close_lease(runtime: Runtime, lease_id: str) -> None:
    args = {"leaseId": lease_id, "refund": "0"}
    await EscrowSubscriber(runtime.sessionmaker, None, runtime.hub)([_event("LeaseClosed", args)])
