"""Monitoring errors. One root (an :class:`~engine.errors.EngineError`), data in attributes and ``details``.

::

    MonitoringError                                    .code                    status
    └── InvalidRange  (.start, .end, .step, .reason)   invalid_range            400 (a history window)

Chain read failures are :class:`chain.errors.BatchReadError` / :class:`chain.errors.RpcError` as they come.
"""

from __future__ import annotations

from engine.errors import EngineError, Kind


class MonitoringError(EngineError):
    """Root of the monitoring room's errors."""

    code = "monitoring_error"
    kind = Kind.INTERNAL


class InvalidRange(MonitoringError):
    """A balance-history window that cannot be served (empty, reversed, too fine a step, too many points)."""

    code = "invalid_range"
    kind = Kind.INVALID

    def __init__(self, reason: str, *, start: int, end: int, step: int) -> None:
        super().__init__(reason, details={"from": start, "to": end, "step": step, "reason": reason})
        self.reason = reason
        self.start = start
        self.end = end
        self.step = step
