"""Exceptions of the outbox.

::

    OutboxError              outbox_error                                  (root, 500)
    ├── OutboxTxFailed       outbox_tx_failed  the row ended failed        (.key, .error, .tx_hash)   502
    └── OutboxTimeout        outbox_timeout    not final within the wait   (.key, .status)            503
"""

from __future__ import annotations

from engine.errors import EngineError, Kind


class OutboxError(EngineError):
    """Root of the outbox's exceptions."""

    code = "outbox_error"
    kind = Kind.INTERNAL


class OutboxTxFailed(OutboxError):
    code = "outbox_tx_failed"
    kind = Kind.BAD_GATEWAY

    def __init__(self, key: str, error: str | None, tx_hash: str | None) -> None:
        super().__init__(
            f"outbox tx {key!r} failed: {error}", details={"key": key, "error": error, "tx_hash": tx_hash}
        )
        self.key = key
        self.error = error
        self.tx_hash = tx_hash


class OutboxTimeout(OutboxError, TimeoutError):
    code = "outbox_timeout"
    kind = Kind.UNAVAILABLE

    def __init__(self, key: str, status: str | None) -> None:
        super().__init__(
            f"outbox tx {key!r} not final in time (status {status})", details={"key": key, "status": status}
        )
        self.key = key
        self.status = status
