"""Operator configuration errors (data as attributes and in ``details``)::

EngineError
 └── OperatorError            root of this package's errors
      ├── InvalidConfig        400 ``invalid_config``: a value is unknown, not an integer, or out of
                               range (``field``, ``reason``)
      ├── VersionConflict      409 ``version_conflict``: ``expected_version`` is not the current one
                               (``expected``, ``current``)
      ├── UnknownVersion       404 ``not_found``: a requested version does not exist (``kind``,
                               ``version``)
      └── PauserMissing        503 ``pauser_missing``: the backend signer does not hold the escrow's
                               ``PAUSER_ROLE`` (``signer``), so it cannot pause or unpause
"""

from __future__ import annotations

from engine.errors import EngineError, Kind


class OperatorError(EngineError):
    """Root of operator configuration errors."""

    code = "operator_error"
    kind = Kind.INVALID


class InvalidConfig(OperatorError):
    code = "invalid_config"
    kind = Kind.INVALID

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}", details={"field": field, "reason": reason})
        self.field = field
        self.reason = reason


class VersionConflict(OperatorError):
    code = "version_conflict"
    kind = Kind.CONFLICT

    def __init__(self, kind: str, expected: int, current: int) -> None:
        super().__init__(
            f"{kind}: expected version {expected}, current is {current}",
            details={"expected": expected, "current": current},
        )
        self.config_kind = kind
        self.expected = expected
        self.current = current


class UnknownVersion(OperatorError):
    code = "not_found"
    kind = Kind.NOT_FOUND

    def __init__(self, kind: str, version: int) -> None:
        super().__init__(f"{kind} version {version} does not exist", details={"version": version})
        self.config_kind = kind
        self.version = version


class PauserMissing(OperatorError):
    code = "pauser_missing"
    kind = Kind.UNAVAILABLE

    def __init__(self, signer: str) -> None:
        super().__init__(
            f"the backend signer {signer} does not hold the escrow's PAUSER_ROLE", details={"signer": signer}
        )
        self.signer = signer
