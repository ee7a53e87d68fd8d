"""Errors of the wake-up hub (tree in :mod:`engine.notify`). Both are caller bugs (500)."""

from __future__ import annotations

from engine.errors import EngineError, Kind


class NotifyError(EngineError):
    """Root of the hub's errors."""

    code = "notify_error"
    kind = Kind.INTERNAL


class InvalidTopic(NotifyError):
    """A topic is empty, too long, or contains a newline (the wire separator)."""

    code = "invalid_topic"
    kind = Kind.INTERNAL

    def __init__(self, topic: str, reason: str) -> None:
        super().__init__(
            f"invalid topic {topic[:80]!r}: {reason}", details={"topic": topic[:80], "reason": reason}
        )
        self.topic = topic
        self.reason = reason


class PayloadTooLarge(NotifyError):
    """The encoded notification exceeds PostgreSQL's NOTIFY payload limit."""

    code = "notify_payload_too_large"
    kind = Kind.INTERNAL

    def __init__(self, topic: str, size: int, limit: int) -> None:
        super().__init__(
            f"notification for {topic!r} is {size} bytes, the limit is {limit}",
            details={"topic": topic[:80], "size": size, "limit": limit},
        )
        self.topic = topic
        self.size = size
        self.limit = limit
