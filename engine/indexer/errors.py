"""Exceptions of the indexer.

::

    IndexerError              indexer_error (500)
    ├── ReorgTooDeep          no stored block hash matches the chain   (.chain_id, .checked_from, .checked_to)
    ├── IndexerConflict       the cursor moved under us (two indexers)  (.chain_id, .expected_block)
    ├── InconsistentChain     the node answered from two forks; retried (.chain_id, .block_number, .detail)
    ├── UnknownContract       a registered contract is not in the manifest or its ABI lacks an event
    │                                                                   (.contract, .detail)
    └── InvalidCursor         a page cursor that we did not hand out   (.cursor)

Codes (kind): reorg_too_deep (internal), indexer_conflict (conflict), inconsistent_chain (bad_gateway),
unknown_contract (internal), invalid_cursor (invalid).
"""

from __future__ import annotations

from engine.errors import EngineError, Kind


class IndexerError(EngineError):
    """Root of the indexer's exceptions."""

    code = "indexer_error"
    kind = Kind.INTERNAL


class ReorgTooDeep(IndexerError):
    code = "reorg_too_deep"
    kind = Kind.INTERNAL

    def __init__(self, chain_id: int, checked_from: int, checked_to: int) -> None:
        super().__init__(
            f"chain {chain_id}: reorg deeper than the stored window (blocks {checked_from}..{checked_to} all "
            "differ from the chain); re-index from scratch",
            details={"chain_id": chain_id, "checked_from": checked_from, "checked_to": checked_to},
        )
        self.chain_id = chain_id
        self.checked_from = checked_from
        self.checked_to = checked_to


class IndexerConflict(IndexerError):
    code = "indexer_conflict"
    kind = Kind.CONFLICT

    def __init__(self, chain_id: int, expected_block: int | None) -> None:
        super().__init__(
            f"chain {chain_id}: indexer cursor is no longer at {expected_block} (another indexer?)",
            details={"chain_id": chain_id, "expected_block": expected_block},
        )
        self.chain_id = chain_id
        self.expected_block = expected_block


class InconsistentChain(IndexerError):
    code = "inconsistent_chain"
    kind = Kind.BAD_GATEWAY

    def __init__(self, chain_id: int, block_number: int, detail: str) -> None:
        super().__init__(
            f"chain {chain_id} block {block_number}: {detail}",
            details={"chain_id": chain_id, "block_number": block_number, "detail": detail},
        )
        self.chain_id = chain_id
        self.block_number = block_number
        self.detail = detail


class UnknownContract(IndexerError):
    code = "unknown_contract"
    kind = Kind.INTERNAL

    def __init__(self, contract: str, detail: str) -> None:
        super().__init__(f"{contract}: {detail}", details={"contract": contract, "detail": detail})
        self.contract = contract
        self.detail = detail


class InvalidCursor(IndexerError, ValueError):
    code = "invalid_cursor"
    kind = Kind.INVALID

    def __init__(self, cursor: str) -> None:
        super().__init__(f"invalid event cursor {cursor!r}", details={"cursor": cursor[:200]})
        self.cursor = cursor
