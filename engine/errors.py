"""The engine's one error root. Every room's errors derive from :class:`EngineError`.

Each error carries a stable machine ``code`` (what a client matches on), a :class:`Kind` (what sort of
failure it is; ``api.errors`` maps kinds to HTTP statuses in one table) and ``details`` (data, never only
in the message)::

    EngineError                       .code .kind .details
    ├── alliances.errors.AllianceError
    ├── deployments.errors.DeploymentError
    │   └── scaling.errors.ScalingError
    ├── deployments.spec.SpecError    400 invalid_spec
    ├── identity.errors.IdentityError
    ├── indexer.errors.IndexerError
    ├── monitoring.errors.MonitoringError
    ├── nodes.errors.NodeError
    ├── notifications.errors.NotificationError
    ├── notify.errors.NotifyError
    ├── operator.errors.OperatorError
    ├── outbox.errors.OutboxError
    ├── payments.errors.PaymentsError
    ├── placement.errors.PlacementError
    ├── providers.errors.ProviderError
    ├── relay.errors.RelayError
    ├── swaps.errors.SwapError
    ├── wallets.errors.WalletError
    ├── workloads.errors.WorkloadError
    └── ContractMissing               the suite on this chain lacks a contract the command needs (503)

A leaf sets ``code`` and ``kind`` as class attributes (or per instance through the constructor when one
class stands for several codes, e.g. ``BadFunding(reason=...)``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar


class Kind(StrEnum):
    """What sort of failure an error is. ``api.errors.STATUS_BY_KIND`` turns it into an HTTP status."""

    INVALID = "invalid"  # the request is wrong (400)
    UNAUTHORIZED = "unauthorized"  # who is asking is not established (401)
    FORBIDDEN = "forbidden"  # the caller may not do this (403)
    NOT_FOUND = "not_found"  # no such thing, or not the caller's (404)
    CONFLICT = "conflict"  # the state of things does not allow it now (409)
    PAYMENT_REQUIRED = "payment_required"  # the payment itself was refused, e.g. a declined card (402)
    UNPROCESSABLE = "unprocessable"  # well-formed but cannot be honoured (422)
    RATE_LIMITED = "rate_limited"  # too many requests (429)
    BAD_GATEWAY = "bad_gateway"  # a dependency answered, but with an error we cannot pass on as ours (502)
    UNAVAILABLE = "unavailable"  # a dependency is down or not configured (503)
    INTERNAL = "internal"  # our bug or a broken invariant (500)


class EngineError(Exception):
    """Root of every error the engine raises on purpose."""

    code: ClassVar[str] = "engine_error"
    kind: ClassVar[Kind] = Kind.INTERNAL

    def __init__(
        self,
        message: str = "",
        *,
        code: str | None = None,
        kind: Kind | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message or type(self).__name__)
        self.message = message or type(self).__name__
        if code is not None:
            self.code = code  # type: ignore[misc]  # per-instance override of the class default
        if kind is not None:
            self.kind = kind  # type: ignore[misc]
        self.details: dict[str, Any] = dict(details or {})


class ContractMissing(EngineError):
    code = "contract_not_deployed"
    kind = Kind.UNAVAILABLE

    def __init__(self, contract: str) -> None:
        super().__init__(f"{contract} is not deployed on this chain", details={"contract": contract})
        self.contract = contract
