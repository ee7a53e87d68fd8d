"""Errors of the wake-up hub (tree in :mod:`engine.notify`)."""

from __future__ import annotations


class NotifyError(Exception):
    """Root of the hub's errors."""


class InvalidTopic(NotifyError):
    """A topic is empty, too long, or contains a newline (the wire separator)."""

    def __init__(self, topic: str, reason: str) -> None:
        super().__init__(f"invalid topic {topic[:80]!r}: {reason}")
        self.topic = topic
        self.reason = reason


class PayloadTooLarge(NotifyError):
    """The encoded notification exceeds PostgreSQL's NOTIFY payload limit."""

    def __init__(self, topic: str, size: int, limit: int) -> None:
        super().__init__(f"notification for {topic!r} is {size} bytes, the limit is {limit}")
        self.topic = topic
        self.size = size
        self.limit = limit
