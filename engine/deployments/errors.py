"""Deployment errors (data as attributes and in ``details``; ``code`` and kind give the HTTP answer)::

    EngineError
     └── DeploymentError                      (scaling's ScalingError derives from it)
          ├── AccountBlocked        403 account_flagged       the account may not create deployments
          ├── NoPayer               400 no_wallet             no wallet to pay from (or not the user's)
          ├── BadFunding            400 <reason>              deposit / duration / amount unusable
          ├── DeploymentNotFound    404 not_found             not there, or not the caller's
          ├── WrongState            409 wrong_state           not in the deployment's status
          ├── NothingToWithdraw     409 nothing_to_withdraw   earnings: the node is owed nothing
          ├── EscrowPaused          503 escrow_paused         the escrow's emergency pause is on: no new
          │                                                   opens or top-ups (closes still work)
          └── IllegalTransition     500 (engine.deployments.status: a broken invariant, never a user error)

Also raised by deployment commands: ``engine.deployments.spec.SpecError`` (400 ``invalid_spec``),
``engine.placement.errors.NoNodeFits`` (409 ``no_node_fits`` / 422 ``max_price_below_floor``),
``engine.relay.errors.NoRelay`` (400 ``no_relay``), ``engine.pagination.BadCursor`` (400 ``bad_cursor``,
listing); earnings commands: ``engine.nodes.errors.NodeNotOwned``
(404 ``not_found``), ``engine.nodes.errors.NodeNotOnChain`` (409 ``node_not_on_chain``).
"""

from __future__ import annotations

from engine.errors import EngineError, Kind


class DeploymentError(EngineError):
    """Root of deployment errors."""

    code = "deployment_error"
    kind = Kind.INTERNAL


class AccountBlocked(DeploymentError):
    code = "account_flagged"
    kind = Kind.FORBIDDEN

    def __init__(self, user_id: int, reason: str) -> None:
        super().__init__(reason)
        self.user_id = user_id
        self.reason = reason


class NoPayer(DeploymentError):
    code = "no_wallet"
    kind = Kind.INVALID

    def __init__(self, user_id: int, wallet: str | None) -> None:
        super().__init__(
            f"wallet {wallet} is not one of yours"
            if wallet
            else "link a wallet or get a managed wallet first",
            details={"wallet": wallet},
        )
        self.user_id = user_id
        self.wallet = wallet


class BadFunding(DeploymentError):
    """``reason`` is the code: ``funding``, ``deposit_too_low``, ``deposit_too_high``, ``bad_deposit``,
    ``amount_too_low``, ``bad_replicas``."""

    kind = Kind.INVALID

    def __init__(self, reason: str, message: str, **details: int) -> None:
        super().__init__(message, code=reason, details=details)
        self.reason = reason


class DeploymentNotFound(DeploymentError):
    code = "not_found"
    kind = Kind.NOT_FOUND

    def __init__(self, deployment_id: int) -> None:
        super().__init__(f"deployment {deployment_id} not found", details={"deployment_id": deployment_id})
        self.deployment_id = deployment_id


class WrongState(DeploymentError):
    code = "wrong_state"
    kind = Kind.CONFLICT

    def __init__(self, deployment_id: int, status: str, action: str) -> None:
        super().__init__(
            f"cannot {action} deployment {deployment_id} while it is {status}",
            details={"status": status, "action": action},
        )
        self.deployment_id = deployment_id
        self.status = status
        self.action = action


class NothingToWithdraw(DeploymentError):
    code = "nothing_to_withdraw"
    kind = Kind.CONFLICT

    def __init__(self, node_id: int) -> None:
        super().__init__("nothing to withdraw", details={"node_id": node_id})
        self.node_id = node_id


class EscrowPaused(DeploymentError):
    """The escrow's emergency pause is on (``PAUSER_ROLE`` ``setPaused(true)``): opens and top-ups would
    revert ``EnforcedPause``, so commands that would open or top up a lease refuse before writing."""

    code = "escrow_paused"
    kind = Kind.UNAVAILABLE

    def __init__(self, action: str) -> None:
        super().__init__(
            f"cannot {action} while the escrow is paused; closes and withdrawals still work",
            details={"action": action},
        )
        self.action = action
