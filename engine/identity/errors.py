"""Identity errors. One root, data on attributes; the api layer maps each to a 4xx.

::

    IdentityError
    ├── UserNotFound              (.user_id)
    ├── AddressAlreadyLinked      (.address, .user_id)        409
    ├── InvalidSettings           (.reason)                   400
    ├── NodeNotFound              (.node_id)                  404
    ├── NodeTokenInvalid          (.reason)                   401
    └── SiweError                 (.reason)
        ├── SiweParseError        (.line, .reason)            400 malformed message
        ├── SiweNonceError        (.nonce, .reason)           401 unknown / used / expired
        ├── SiweMismatch          (.field, .expected, .got)   401 domain / uri / chain id / version
        ├── SiweTimeError         (.field, .reason)           401 expired / not yet valid / issued in future
        └── SiweSignatureError    (.address, .reason)         401 signature is not from the address
"""

from __future__ import annotations

from typing import Any


class IdentityError(Exception):
    """Root of the identity room's errors."""


class UserNotFound(IdentityError):
    def __init__(self, user_id: int) -> None:
        super().__init__(f"user {user_id} not found")
        self.user_id = user_id


class AddressAlreadyLinked(IdentityError):
    def __init__(self, address: str, user_id: int | None) -> None:
        super().__init__(f"address {address} is already linked to another user")
        self.address = address
        self.user_id = user_id


class InvalidSettings(IdentityError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"invalid settings: {reason}")
        self.reason = reason


class NodeNotFound(IdentityError):
    def __init__(self, node_id: int) -> None:
        super().__init__(f"node {node_id} not found")
        self.node_id = node_id


class NodeTokenInvalid(IdentityError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"node token rejected: {reason}")
        self.reason = reason


class SiweError(IdentityError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def details(self) -> dict[str, Any]:
        return {"reason": self.reason}


class SiweParseError(SiweError):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"malformed SIWE message at line {line}: {reason}")
        self.line = line

    def details(self) -> dict[str, Any]:
        return {"reason": self.reason, "line": self.line}


class SiweNonceError(SiweError):
    def __init__(self, nonce: str, reason: str) -> None:
        super().__init__(reason)
        self.nonce = nonce


class SiweMismatch(SiweError):
    def __init__(self, field: str, expected: Any, got: Any) -> None:
        super().__init__(f"{field} does not match: expected {expected!r}, got {got!r}")
        self.field = field
        self.expected = expected
        self.got = got

    def details(self) -> dict[str, Any]:
        return {"reason": self.reason, "field": self.field, "expected": self.expected, "got": self.got}


class SiweTimeError(SiweError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field

    def details(self) -> dict[str, Any]:
        return {"reason": self.reason, "field": self.field}


class SiweSignatureError(SiweError):
    def __init__(self, address: str, reason: str) -> None:
        super().__init__(reason)
        self.address = address

    def details(self) -> dict[str, Any]:
        return {"reason": self.reason, "address": self.address}
