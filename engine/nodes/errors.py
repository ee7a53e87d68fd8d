"""Node and maintenance errors (data as attributes and in ``details``)::

EngineError
 └── NodeError                root of this package's errors
      ├── InvalidNode            400 ``invalid_node`` (``unknown_region`` for the region): a resource,
                                 location or price value is wrong (``field``, ``reason``)
      ├── NodeNotOwned           404 ``not_found``: unknown node or another provider's (``node_id``)
      ├── NodeNotOnChain         409 ``node_not_on_chain``: its ``addNode`` is not indexed yet
                                 (``node_id``)
      ├── WalletNotLinked        400 ``wallet_not_linked``: the wallet is not the caller's (``address``)
      ├── TooManyNodes           409 ``too_many_nodes``: the provider reached
                                 ``max_nodes_per_provider`` (``limit``)
      └── InvalidWindow          400 ``maintenance_<reason>``: a maintenance window breaks a rule
                                 (``reason``: ``order``, ``notice``, ``too_long``, ``pending``;
                                 ``earliest``/``limit``/``end`` in ``details`` where it applies)
"""

from __future__ import annotations

from typing import Any

from engine.errors import EngineError, Kind


class NodeError(EngineError):
    """Root of node errors."""

    code = "node_error"
    kind = Kind.INVALID


class InvalidNode(NodeError):
    code = "invalid_node"
    kind = Kind.INVALID

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(
            f"{field}: {reason}",
            code="unknown_region" if field == "region" else None,
            details={"field": field, "reason": reason},
        )
        self.field = field
        self.reason = reason


class NodeNotOwned(NodeError):
    code = "not_found"
    kind = Kind.NOT_FOUND

    def __init__(self, node_id: int) -> None:
        super().__init__(f"node {node_id} not found", details={"node_id": node_id})
        self.node_id = node_id


class NodeNotOnChain(NodeError):
    code = "node_not_on_chain"
    kind = Kind.CONFLICT

    def __init__(self, node_id: int) -> None:
        super().__init__(
            f"node {node_id} is not registered on chain yet (sign and send its addNode first)",
            details={"node_id": node_id},
        )
        self.node_id = node_id


class WalletNotLinked(NodeError):
    code = "wallet_not_linked"
    kind = Kind.INVALID

    def __init__(self, address: str) -> None:
        super().__init__(f"wallet {address} is not linked to this account", details={"address": address})
        self.address = address


class TooManyNodes(NodeError):
    code = "too_many_nodes"
    kind = Kind.CONFLICT

    def __init__(self, limit: int) -> None:
        super().__init__(f"a provider may register at most {limit} nodes", details={"limit": limit})
        self.limit = limit


class InvalidWindow(NodeError):
    kind = Kind.INVALID

    def __init__(self, reason: str, message: str, **details: Any) -> None:
        super().__init__(message, code=f"maintenance_{reason}", details=details)
        self.reason = reason
