"""Swap errors. One root (an :class:`~engine.errors.EngineError`), data on attributes and in ``details``.

::

    SwapError                                               .code                     status
    ├── SwapUnavailable                                     swap_unavailable          503 (no router here)
    ├── UnknownToken          (.symbol)                     unknown_swap_token        400
    ├── NoRoute               (.token_in, .token_out)       no_swap_route             422
    ├── BadSwapRequest        (.field)                      invalid_swap              400
    ├── WalletNotOwned        (.address)                    swap_wallet_not_found     404
    └── ManagedSwapUnsupported (.address)                   managed_swap_unsupported  409
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


class ManagedSwapUnsupported(SwapError):
    """Managed wallets cannot swap yet: the swap would have to be sent from the managed address outside
    the outbox (see :mod:`engine.swaps.commands`)."""

    code = "managed_swap_unsupported"
    kind = Kind.CONFLICT

    def __init__(self, address: str) -> None:
        super().__init__(
            "swaps from a managed wallet are not supported yet; link a wallet (Sign-In with Ethereum)",
            details={"address": address},
        )
        self.address = address
