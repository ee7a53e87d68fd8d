"""Auth failures as API errors (the envelope middleware renders them).

::

    ApiError
    ├── Unauthorized      401 unauthorized   (.details["reason"])
    ├── Forbidden         403 forbidden
    └── Conflict          409 conflict
    AuthConfigError       (not an API error) refusing an unsafe configuration at start-up
"""

from __future__ import annotations

from typing import Any

from api.errors import ApiError


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"

    def __init__(self, reason: str, **details: Any) -> None:
        super().__init__(f"authentication failed: {reason}", details={"reason": reason, **details})
        self.reason = reason


class JwksUnavailable(ApiError):
    """The identity provider's key set could not be fetched (network, bad JSON): 503, not 401."""

    status = 503
    code = "unavailable"

    def __init__(self, url: str, reason: str) -> None:
        super().__init__("identity provider keys unavailable", details={"reason": reason})
        self.url = url
        self.reason = reason


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class AuthConfigError(ValueError):
    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason
