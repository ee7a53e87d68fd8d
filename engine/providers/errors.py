"""Provider onboarding errors.

::

    ProviderError
     ├── NotYourWallet          the wallet is not linked to the caller (``address``)
     ├── CollateralTooLow       below the operator's minimum (``collateral``, ``minimum``)
     ├── RequestExists          an open or approved request exists for the wallet (``request_id``)
     ├── RequestNotFound        no such request (``request_id``)
     ├── InvalidTransition      approve/reject not allowed from the status (``request_id``, ``status``)
     └── NotRegisteredOnChain   approve before ``register`` was indexed (``address``, ``chain_status``)
"""

from __future__ import annotations


class ProviderError(Exception):
    """Root of provider onboarding errors."""


class NotYourWallet(ProviderError):
    def __init__(self, address: str) -> None:
        super().__init__(f"wallet {address} is not linked to this account")
        self.address = address


class CollateralTooLow(ProviderError):
    def __init__(self, collateral: int, minimum: int) -> None:
        super().__init__(f"collateral {collateral} is below the minimum {minimum}")
        self.collateral = collateral
        self.minimum = minimum


class RequestExists(ProviderError):
    def __init__(self, request_id: int, status: str) -> None:
        super().__init__(f"request {request_id} for this wallet is already {status}")
        self.request_id = request_id
        self.status = status


class RequestNotFound(ProviderError):
    def __init__(self, request_id: int) -> None:
        super().__init__(f"provider request {request_id} not found")
        self.request_id = request_id


class InvalidTransition(ProviderError):
    def __init__(self, request_id: int, status: str, action: str) -> None:
        super().__init__(f"request {request_id} is {status}; cannot {action}")
        self.request_id = request_id
        self.status = status
        self.action = action


class NotRegisteredOnChain(ProviderError):
    def __init__(self, address: str, chain_status: str) -> None:
        super().__init__(
            f"{address} has not registered on chain yet (status {chain_status}); "
            "the provider must sign the register transaction first"
        )
        self.address = address
        self.chain_status = chain_status
