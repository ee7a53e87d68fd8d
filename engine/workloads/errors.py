"""Errors of the workloads room (tree in :mod:`engine.workloads`)."""

from __future__ import annotations


class WorkloadError(Exception):
    """Root of the workloads errors."""


class BadHeartbeat(WorkloadError):
    """A heartbeat that cannot be recorded (``field`` names the offending part)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
