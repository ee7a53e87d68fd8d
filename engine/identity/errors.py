"""Identity errors. One root (an :class:`~engine.errors.EngineError`), data on attributes and in ``details``.

::

    IdentityError                                             .code                  status
    ├── UserNotFound              (.user_id)                  user_not_found         404
    ├── AddressAlreadyLinked      (.address, .user_id)        address_already_linked 409
    ├── InvalidSettings           (.reason)                   invalid_settings       400
    ├── NodeNotFound              (.node_id)                  not_found              404
    ├── NodeTokenInvalid          (.reason)                   unauthorized           401
    └── SiweError                 (.reason)                   unauthorized           401
        ├── SiweParseError        (.line, .reason)            siwe_malformed         400 malformed message
        ├── SiweNonceError        (.nonce, .reason)           unknown / used / expired nonce
        ├── SiweMismatch          (.field, .expected, .got)   domain / uri / chain id / version
        ├── SiweTimeError         (.field, .reason)           expired / not yet valid / issued in future
        └── SiweSignatureError    (.address, .reason)         signature is not from the address

A SIWE failure other than a malformed message answers like any failed sign-in (401 ``unauthorized``,
message ``authentication failed: siwe verification failed``) with the step's data under
``details["siwe"]``; ``str(exc)`` keeps the precise reason for logs and tests.
"""

from __future__ import annotations

from typing import Any

from engine.errors import EngineError, Kind

SIWE_FAILED = "siwe verification failed"


class IdentityError(EngineError):
    """Root of the identity room's errors."""

    code = "identity_error"
    kind = Kind.INVALID


class UserNotFound(IdentityError):
    code = "user_not_found"
    kind = Kind.NOT_FOUND

    def __init__(self, user_id: int) -> None:
        super().__init__(f"user {user_id} not found", details={"user_id": user_id})
        self.user_id = user_id


class AddressAlreadyLinked(IdentityError):
    code = "address_already_linked"
    kind = Kind.CONFLICT

    def __init__(self, address: str, user_id: int | None) -> None:
        super().__init__(f"address {address} is already linked to another user", details={"address": address})
        self.address = address
        self.user_id = user_id


class InvalidSettings(IdentityError):
    code = "invalid_settings"
    kind = Kind.INVALID

    def __init__(self, reason: str) -> None:
        super().__init__(f"invalid settings: {reason}", details={"reason": reason})
        self.reason = reason


class NodeNotFound(IdentityError):
    code = "not_found"
    kind = Kind.NOT_FOUND

    def __init__(self, node_id: int) -> None:
        super().__init__(f"node {node_id} not found", details={"node_id": node_id})
        self.node_id = node_id


class NodeTokenInvalid(IdentityError):
    code = "unauthorized"
    kind = Kind.UNAUTHORIZED

    def __init__(self, reason: str) -> None:
        super().__init__(f"node token rejected: {reason}", details={"reason": reason})
        self.reason = reason


class SiweError(IdentityError):
    code = "unauthorized"
    kind = Kind.UNAUTHORIZED

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        # the envelope says what any failed sign-in says; the step's data goes under details["siwe"]
        self.message = f"authentication failed: {SIWE_FAILED}"
        self.details = {"reason": SIWE_FAILED, "siwe": self.siwe_details()}

    def siwe_details(self) -> dict[str, Any]:
        """The step's data (subclasses set their attributes before calling ``__init__``)."""
        return {"reason": self.reason}


class SiweParseError(SiweError):
    code = "siwe_malformed"
    kind = Kind.INVALID

    def __init__(self, line: int, reason: str) -> None:
        self.line = line
        super().__init__(f"malformed SIWE message at line {line}: {reason}")
        self.message = str(self)
        self.details = self.siwe_details()

    def siwe_details(self) -> dict[str, Any]:
        return {"reason": self.reason, "line": self.line}


class SiweNonceError(SiweError):
    def __init__(self, nonce: str, reason: str) -> None:
        self.nonce = nonce
        super().__init__(reason)


class SiweMismatch(SiweError):
    def __init__(self, field: str, expected: Any, got: Any) -> None:
        self.field = field
        self.expected = expected
        self.got = got
        super().__init__(f"{field} does not match: expected {expected!r}, got {got!r}")

    def siwe_details(self) -> dict[str, Any]:
        return {"reason": self.reason, "field": self.field, "expected": self.expected, "got": self.got}


class SiweTimeError(SiweError):
    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        super().__init__(reason)

    def siwe_details(self) -> dict[str, Any]:
        return {"reason": self.reason, "field": self.field}


class SiweSignatureError(SiweError):
    def __init__(self, address: str, reason: str) -> None:
        self.address = address
        super().__init__(reason)

    def siwe_details(self) -> dict[str, Any]:
        return {"reason": self.reason, "address": self.address}
