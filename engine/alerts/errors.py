"""Alerts errors. One root (an :class:`~engine.errors.EngineError`), data in attributes and ``details``.

::

    AlertsError                                   .code                status
    └── InvalidThresholds  (.field, .reason)      invalid_thresholds   400 (PUT /api/me/alerts)
"""

from __future__ import annotations

from engine.errors import EngineError, Kind


class AlertsError(EngineError):
    """Root of the alerts room's errors."""

    code = "alerts_error"
    kind = Kind.INTERNAL


class InvalidThresholds(AlertsError):
    """A per-user alert setting that cannot be stored (bad thresholds); nothing was written."""

    code = "invalid_thresholds"
    kind = Kind.INVALID

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}", details={"field": field, "reason": reason})
        self.field = field
        self.reason = reason
