"""Node tokens: issue (shown once, stored hashed), use, revoke, scoped to one node and its owner."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.identity.errors import NodeNotFound, NodeTokenInvalid
from engine.identity.models import NodeToken
from engine.identity.node_tokens import (
    authenticate_node_token,
    create_node,
    hash_token,
    issue_node_token,
    revoke_node_token,
)
from engine.identity.services import ensure_user


async def test_issue_use_revoke(db_session) -> None:
    prov = await ensure_user(db_session, "auth0|prov-nt")
    node = await create_node(db_session, prov.id, "n1")
    other_node = await create_node(db_session, prov.id, "n2")
    issued = await issue_node_token(db_session, node.id, prov.id)
    assert issued.token.startswith("cmn_") and len(issued.token) > 40
    assert issued.token not in repr(issued)
    row = (await db_session.execute(select(NodeToken).where(NodeToken.id == issued.id))).scalar_one()
    assert row.token_hash == hash_token(issued.token) and issued.token not in row.token_hash
    assert await authenticate_node_token(db_session, issued.token) == node.id
    assert await authenticate_node_token(db_session, issued.token) != other_node.id
    await revoke_node_token(db_session, node.id, issued.id, prov.id)
    with pytest.raises(NodeTokenInvalid, match="revoked"):
        await authenticate_node_token(db_session, issued.token)


async def test_unknown_and_malformed(db_session) -> None:
    with pytest.raises(NodeTokenInvalid):
        await authenticate_node_token(db_session, "cmn_" + "A" * 43)
    with pytest.raises(NodeTokenInvalid):
        await authenticate_node_token(db_session, "not-a-node-token")


async def test_only_the_owner_issues_and_revokes(db_session) -> None:
    owner = await ensure_user(db_session, "auth0|prov-owner")
    stranger = await ensure_user(db_session, "auth0|prov-stranger")
    node = await create_node(db_session, owner.id, "n")
    with pytest.raises(NodeNotFound):
        await issue_node_token(db_session, node.id, stranger.id)
    issued = await issue_node_token(db_session, node.id, owner.id)
    with pytest.raises(NodeNotFound):
        await revoke_node_token(db_session, node.id, issued.id, stranger.id)
    other = await create_node(db_session, owner.id, "other")
    with pytest.raises(NodeNotFound):  # token id of another node
        await revoke_node_token(db_session, other.id, issued.id, owner.id)
    assert await authenticate_node_token(db_session, issued.token) == node.id
