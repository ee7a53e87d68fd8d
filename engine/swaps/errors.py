"""Swap errors. One root (an :class:`~engine.errors.EngineError`), data on attributes and in ``details``.

::

    SwapError                                               .code                     status
    ├── SwapUnavailable                                     swap_unavailable          503 (no router here)
    ├── UnknownToken          (.symbol)                     unknown_swap_token        400
    ├── NoRoute               (.token_in, .token_out)       no_swap_route             422
    ├── BadSwapRequest        (.field)                      invalid_swap              400
    ├── WalletNotOwned        (.address)                    swap_wallet_not_found     404
    ├── AdapterUnavailable                                  swap_adapter_unavailable  503 (no SwapTopUp here)
    ├── LeaseNotFound         (.lease_id, .deployment_id)   swap_lease_not_found      404
    ├── LeaseNotFundable      (.lease_id, .reason)          swap_lease_not_open       409
    ├── SwapInFlight          (.address, .swap_id)          swap_in_flight            409
    └── SwapNotFound          (.swap_id)                    swap_not_found            404
"""

from __future__ import annotations

from engine.errors import EngineError, Kind


class SwapError(EngineError):
    """Root of the swaps room's errors."""

    code = "swap_error"
    kind = Kind.INTERNAL


class SwapUnavailable(SwapError):
    code = "swap_unavailable"
    kind = Kind.UNAVAILABLE

    def __init__(self) -> None:
        super().__init__("no swap router is configured on this chain")


class UnknownToken(SwapError):
    code = "unknown_swap_token"
    kind = Kind.INVALID

    def __init__(self, symbol: str, known: list[str]) -> None:
        super().__init__(f"unknown token {symbol!r}", details={"symbol": symbol, "known": known})
        self.symbol = symbol


class NoRoute(SwapError):
    code = "no_swap_route"
    kind = Kind.UNPROCESSABLE

    def __init__(self, token_in: str, token_out: str) -> None:
        super().__init__(
            f"no pool route from {token_in} to {token_out}",
            details={"token_in": token_in, "token_out": token_out},
        )
        self.token_in = token_in
        self.token_out = token_out


class BadSwapRequest(SwapError):
    code = "invalid_swap"
    kind = Kind.INVALID

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, details={"field": field})
        self.field = field


class WalletNotOwned(SwapError):
    code = "swap_wallet_not_found"
    kind = Kind.NOT_FOUND

    def __init__(self, address: str | None) -> None:
        super().__init__(
            "no such wallet of the caller" if address else "the caller has no wallet",
            details={"address": address},
        )
        self.address = address


class AdapterUnavailable(SwapError):
    """Swap + top-up and managed-wallet swaps need the ``SwapTopUp`` adapter, which this chain lacks."""

    code = "swap_adapter_unavailable"
    kind = Kind.UNAVAILABLE

    def __init__(self) -> None:
        super().__init__("no SwapTopUp adapter is deployed or configured on this chain")


class LeaseNotFound(SwapError):
    """The lease (or deployment) to top up is not one the swapping wallet pays for."""

    code = "swap_lease_not_found"
    kind = Kind.NOT_FOUND

    def __init__(self, lease_id: int | None, deployment_id: int | None) -> None:
        super().__init__(
            "no such lease paid by this wallet",
            details={
                "lease_id": None if lease_id is None else str(lease_id),
                "deployment_id": deployment_id,
            },
        )
        self.lease_id = lease_id
        self.deployment_id = deployment_id


class LeaseNotFundable(SwapError):
    code = "swap_lease_not_open"
    kind = Kind.CONFLICT

    def __init__(self, lease_id: int, reason: str) -> None:
        super().__init__(
            f"lease {lease_id} cannot be topped up: {reason}", details={"lease_id": str(lease_id)}
        )
        self.lease_id = lease_id
        self.reason = reason


class SwapInFlight(SwapError):
    """A managed wallet's previous relayed swap is not final yet (its request nonce is still pending)."""

    code = "swap_in_flight"
    kind = Kind.CONFLICT

    def __init__(self, address: str, swap_id: int) -> None:
        super().__init__(
            f"swap {swap_id} of this wallet is still in flight; retry when it is done",
            details={"address": address, "swap_id": swap_id},
        )
        self.address = address
        self.swap_id = swap_id


class SwapNotFound(SwapError):
    code = "swap_not_found"
    kind = Kind.NOT_FOUND

    def __init__(self, swap_id: int) -> None:
        super().__init__("no such swap of the caller", details={"swap_id": swap_id})
        self.swap_id = swap_id
