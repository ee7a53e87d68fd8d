"""Relay errors::

EngineError
 └── RelayError
      └── NoRelay      400 no_relay: a managed wallet pays, but this deployment of the engine has no relay
                       (no escrow on the chain, so nothing can sign for managed payers)
"""

from __future__ import annotations

from engine.errors import EngineError, Kind


class RelayError(EngineError):
    """Root of relay errors."""

    code = "relay_error"
    kind = Kind.INTERNAL


class NoRelay(RelayError):
    code = "no_relay"
    kind = Kind.INVALID

    def __init__(self, message: str = "managed wallets cannot fund deployments here") -> None:
        super().__init__(message)
