"""Topic names, built in one place so publishers and waiters agree."""

from __future__ import annotations


def node(node_id: int) -> str:
    """Desired state of a provider node changed (its agent's long-poll should answer)."""
    return f"node:{node_id}"


def deployment(deployment_id: int) -> str:
    """A deployment's status or events changed (its SSE stream should push)."""
    return f"deployment:{deployment_id}"


def notifications(user_id: int) -> str:
    """A user got a new in-app notification (their notifications SSE stream should push)."""
    return f"notifications:{user_id}"


def wallet(user_id: int) -> str:
    """The indexer committed events naming one of the user's wallets (their console re-reads balances)."""
    return f"wallet:{user_id}"
