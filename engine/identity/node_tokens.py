"""Per-node opaque tokens for the node agent: issued once, stored as SHA-256, scoped, revocable.

A token is ``cmn_`` + ``secrets.token_urlsafe(32)`` (256 bits). Only its SHA-256 is stored; a request's
token is hashed and looked up by that hash. No constant-time compare is needed: the secret is never
compared byte by byte. An attacker timing the index lookup learns at most how a *hash* of their guess
relates to stored hashes, which does not help find a 256-bit preimage. A plain (fast) hash is enough
because the token has full entropy; password hashing is for low-entropy secrets.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.identity.errors import NodeNotFound, NodeTokenInvalid
from engine.identity.models import NodeToken, utcnow
from engine.nodes.models import Node

TOKEN_PREFIX = "cmn_"  # noqa: S105 - a visible prefix, not a secret
HINT_CHARS = 10


@dataclass(frozen=True)
class IssuedToken:
    """The plaintext token, returned once at issue time."""

    id: int
    node_id: int
    token: str

    def __repr__(self) -> str:
        return f"IssuedToken(id={self.id!r}, node_id={self.node_id!r}, token=<redacted>)"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_node_token(token: str) -> bool:
    return token.startswith(TOKEN_PREFIX)


async def create_node(session: AsyncSession, provider_user_id: int, name: str) -> Node:
    node = Node(provider_user_id=provider_user_id, name=name)
    session.add(node)
    await session.commit()
    return node


async def list_nodes(session: AsyncSession, provider_user_id: int) -> list[Node]:
    rows = await session.execute(
        select(Node).where(Node.provider_user_id == provider_user_id).order_by(Node.id)
    )
    return list(rows.scalars())


async def owned_node(session: AsyncSession, node_id: int, provider_user_id: int) -> Node:
    """The node if ``provider_user_id`` owns it; :class:`NodeNotFound` otherwise (no existence leak)."""
    node = await session.get(Node, node_id)
    if node is None or node.provider_user_id != provider_user_id:
        raise NodeNotFound(node_id)
    return node


async def issue_node_token(session: AsyncSession, node_id: int, provider_user_id: int) -> IssuedToken:
    await owned_node(session, node_id, provider_user_id)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = NodeToken(node_id=node_id, token_hash=hash_token(token), hint=token[:HINT_CHARS])
    session.add(row)
    await session.commit()
    return IssuedToken(id=row.id, node_id=node_id, token=token)


async def revoke_node_token(
    session: AsyncSession, node_id: int, token_id: int, provider_user_id: int
) -> NodeToken:
    """Revoke (idempotent). :class:`NodeNotFound` if the node is not the provider's or the token not
    the node's."""
    await owned_node(session, node_id, provider_user_id)
    row = await session.get(NodeToken, token_id)
    if row is None or row.node_id != node_id:
        raise NodeNotFound(node_id)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        await session.commit()
    return row


async def authenticate_node_token(session: AsyncSession, token: str) -> int:
    """The node id the token is for; :class:`NodeTokenInvalid` if unknown, malformed or revoked."""
    if not looks_like_node_token(token) or len(token) > 128:
        raise NodeTokenInvalid("malformed")
    row = (
        await session.execute(select(NodeToken).where(NodeToken.token_hash == hash_token(token)))
    ).scalar_one_or_none()
    if row is None:
        raise NodeTokenInvalid("unknown token")
    if row.revoked_at is not None:
        raise NodeTokenInvalid("revoked")
    return row.node_id
