"""Exceptions of the indexer.

::

    IndexerError
    ├── ReorgTooDeep          no stored block hash matches the chain   (.chain_id, .checked_from, .checked_to)
    ├── IndexerConflict       the cursor moved under us (two indexers)  (.chain_id, .expected_block)
    ├── InconsistentChain     the node answered from two forks; retried (.chain_id, .block_number, .detail)
    ├── UnknownContract       a registered contract is not in the manifest or its ABI lacks an event
    │                                                                   (.contract, .detail)
    └── InvalidCursor         a page cursor that we did not hand out   (.cursor)
"""

from __future__ import annotations


class IndexerError(Exception):
    """Root of the indexer's exceptions."""


class ReorgTooDeep(IndexerError):
    def __init__(self, chain_id: int, checked_from: int, checked_to: int) -> None:
        super().__init__(
            f"chain {chain_id}: reorg deeper than the stored window (blocks {checked_from}..{checked_to} all "
            "differ from the chain); re-index from scratch"
        )
        self.chain_id = chain_id
        self.checked_from = checked_from
        self.checked_to = checked_to


class IndexerConflict(IndexerError):
    def __init__(self, chain_id: int, expected_block: int | None) -> None:
        super().__init__(
            f"chain {chain_id}: indexer cursor is no longer at {expected_block} (another indexer?)"
        )
        self.chain_id = chain_id
        self.expected_block = expected_block


class InconsistentChain(IndexerError):
    def __init__(self, chain_id: int, block_number: int, detail: str) -> None:
        super().__init__(f"chain {chain_id} block {block_number}: {detail}")
        self.chain_id = chain_id
        self.block_number = block_number
        self.detail = detail


class UnknownContract(IndexerError):
    def __init__(self, contract: str, detail: str) -> None:
        super().__init__(f"{contract}: {detail}")
        self.contract = contract
        self.detail = detail


class InvalidCursor(IndexerError, ValueError):
    def __init__(self, cursor: str) -> None:
        super().__init__(f"invalid event cursor {cursor!r}")
        self.cursor = cursor
