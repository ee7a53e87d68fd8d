"""Exceptions of the outbox.

::

    OutboxError
    ├── OutboxTxFailed       the row ended failed                         (.key, .error, .tx_hash)
    └── OutboxTimeout        not final within the wait                    (.key, .status)
"""

from __future__ import annotations


class OutboxError(Exception):
    """Root of the outbox's exceptions."""


class OutboxTxFailed(OutboxError):
    def __init__(self, key: str, error: str | None, tx_hash: str | None) -> None:
        super().__init__(f"outbox tx {key!r} failed: {error}")
        self.key = key
        self.error = error
        self.tx_hash = tx_hash


class OutboxTimeout(OutboxError, TimeoutError):
    def __init__(self, key: str, status: str | None) -> None:
        super().__init__(f"outbox tx {key!r} not final in time (status {status})")
        self.key = key
        self.status = status
