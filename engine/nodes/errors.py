"""Node and maintenance errors.

::

    NodeError
     ├── InvalidNode            a resource, location or price value is wrong (``field``, ``reason``)
     ├── NodeNotOwned           unknown node or another provider's (``node_id``) — shown as 404
     ├── NodeNotOnChain         the node's ``addNode`` has not been indexed yet (``node_id``)
     ├── WalletNotLinked        the wallet is not one of the caller's (``address``)
     ├── TooManyNodes           the provider reached ``max_nodes_per_provider`` (``limit``)
     └── InvalidWindow          a maintenance window breaks a rule (``reason``: ``order``, ``notice``,
                                ``too_long``, ``pending``; ``earliest``/``limit`` where it applies)
"""

from __future__ import annotations

from typing import Any


class NodeError(Exception):
    """Root of node errors."""


class InvalidNode(NodeError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class NodeNotOwned(NodeError):
    def __init__(self, node_id: int) -> None:
        super().__init__(f"node {node_id} not found")
        self.node_id = node_id


class NodeNotOnChain(NodeError):
    def __init__(self, node_id: int) -> None:
        super().__init__(f"node {node_id} is not registered on chain yet (sign and send its addNode first)")
        self.node_id = node_id


class WalletNotLinked(NodeError):
    def __init__(self, address: str) -> None:
        super().__init__(f"wallet {address} is not linked to this account")
        self.address = address


class TooManyNodes(NodeError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"a provider may register at most {limit} nodes")
        self.limit = limit


class InvalidWindow(NodeError):
    def __init__(self, reason: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.reason = reason
        self.details = details
