"""Operator configuration errors.

::

    OperatorError
     ├── InvalidConfig        a value is unknown, not an integer, or out of range (``field``, ``reason``)
     ├── VersionConflict      ``expected_version`` is not the current one (``expected``, ``current``)
     └── UnknownVersion       a requested version does not exist (``kind``, ``version``)
"""

from __future__ import annotations


class OperatorError(Exception):
    """Root of operator configuration errors."""


class InvalidConfig(OperatorError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class VersionConflict(OperatorError):
    def __init__(self, kind: str, expected: int, current: int) -> None:
        super().__init__(f"{kind}: expected version {expected}, current is {current}")
        self.kind = kind
        self.expected = expected
        self.current = current


class UnknownVersion(OperatorError):
    def __init__(self, kind: str, version: int) -> None:
        super().__init__(f"{kind} version {version} does not exist")
        self.kind = kind
        self.version = version
