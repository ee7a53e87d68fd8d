"""SLA errors::

EngineError
 └── SlaError                 root of this package's errors
      ├── SlaNotFound          404 ``not_found``: the deployment or node is not the caller's
                               (``what``, ``id``)
      └── BadEndpoint          400 ``invalid_endpoint``: a probe host that is not a host name or IP (``host``)
"""

from __future__ import annotations

from engine.errors import EngineError, Kind


class SlaError(EngineError):
    """Root of SLA errors."""

    code = "sla_error"
    kind = Kind.INVALID


class SlaNotFound(SlaError):
    code = "not_found"
    kind = Kind.NOT_FOUND

    def __init__(self, what: str, id_: int) -> None:
        self.what, self.id = what, id_
        super().__init__(f"{what} {id_} not found", details={"what": what, "id": id_})


class BadEndpoint(SlaError):
    code = "invalid_endpoint"
    kind = Kind.INVALID

    def __init__(self, host: str) -> None:
        self.host = host
        super().__init__(f"not a host name or IP address: {host!r}", details={"host": host})
