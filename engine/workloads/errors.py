"""Errors of the workloads room (tree in :mod:`engine.workloads`)."""

from __future__ import annotations

from engine.errors import EngineError, Kind


class WorkloadError(EngineError):
    """Root of the workloads errors."""

    code = "workload_error"
    kind = Kind.INVALID


class BadHeartbeat(WorkloadError):
    """A heartbeat that cannot be recorded (``field`` names the offending part)."""

    code = "bad_heartbeat"
    kind = Kind.INVALID

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, details={"field": field})
        self.field = field
