"""Provider onboarding errors (data as attributes and in ``details``)::

EngineError
 └── ProviderError            root of this package's errors
      ├── NotYourWallet          400 ``wallet_not_linked``: the wallet is not the caller's (``address``)
      ├── CollateralTooLow       400 ``collateral_too_low``: below the operator's minimum
                                 (``collateral``, ``minimum``)
      ├── RequestExists          409 ``request_exists``: an open or approved request exists for the
                                 wallet (``request_id``, ``status``)
      ├── RequestNotFound        404 ``not_found``: no such request (``request_id``)
      ├── InvalidTransition      409 ``invalid_transition``: approve/reject not allowed from the status
                                 (``request_id``, ``status``)
      └── NotRegisteredOnChain   409 ``not_registered_on_chain``: approve before ``register`` was
                                 indexed (``address``, ``chain_status``)
"""

from __future__ import annotations

from engine.errors import EngineError, Kind
from engine.money import CreditUnits


class ProviderError(EngineError):
    """Root of provider onboarding errors."""

    code = "provider_error"
    kind = Kind.INVALID


class NotYourWallet(ProviderError):
    code = "wallet_not_linked"
    kind = Kind.INVALID

    def __init__(self, address: str) -> None:
        super().__init__(f"wallet {address} is not linked to this account", details={"address": address})
        self.address = address


class CollateralTooLow(ProviderError):
    code = "collateral_too_low"
    kind = Kind.INVALID

    def __init__(self, collateral: CreditUnits, minimum: CreditUnits) -> None:
        super().__init__(
            f"collateral {collateral} is below the minimum {minimum}",
            details={"collateral": collateral, "minimum": minimum},
        )
        self.collateral = collateral
        self.minimum = minimum


class RequestExists(ProviderError):
    code = "request_exists"
    kind = Kind.CONFLICT

    def __init__(self, request_id: int, status: str) -> None:
        super().__init__(
            f"request {request_id} for this wallet is already {status}",
            details={"request_id": request_id, "status": status},
        )
        self.request_id = request_id
        self.status = status


class RequestNotFound(ProviderError):
    code = "not_found"
    kind = Kind.NOT_FOUND

    def __init__(self, request_id: int) -> None:
        super().__init__(f"provider request {request_id} not found", details={"request_id": request_id})
        self.request_id = request_id


class InvalidTransition(ProviderError):
    code = "invalid_transition"
    kind = Kind.CONFLICT

    def __init__(self, request_id: int, status: str, action: str) -> None:
        super().__init__(
            f"request {request_id} is {status}; cannot {action}",
            details={"request_id": request_id, "status": status},
        )
        self.request_id = request_id
        self.status = status
        self.action = action


class NotRegisteredOnChain(ProviderError):
    code = "not_registered_on_chain"
    kind = Kind.CONFLICT

    def __init__(self, address: str, chain_status: str | None) -> None:
        super().__init__(
            f"{address} has not registered on chain yet (status {chain_status or 'unregistered'}); "
            "the provider must sign the register transaction first",
            details={"address": address, "chain_status": chain_status},
        )
        self.address = address
        self.chain_status = chain_status
