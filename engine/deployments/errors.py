"""Deployment errors (data as attributes)::

DeploymentError
 ├── AccountBlocked        the account may not create deployments (flag reason)
 ├── NoPayer               no wallet to pay from (or the named one is not the user's)
 ├── BadFunding            deposit / duration / amount unusable (``reason``)
 ├── DeploymentNotFound    not there, or not the caller's
 └── WrongState            the operation does not apply in the deployment's status
"""

from __future__ import annotations


class DeploymentError(Exception):
    """Root of deployment errors."""


class AccountBlocked(DeploymentError):
    def __init__(self, user_id: int, reason: str) -> None:
        super().__init__(reason)
        self.user_id = user_id
        self.reason = reason


class NoPayer(DeploymentError):
    def __init__(self, user_id: int, wallet: str | None) -> None:
        super().__init__(
            f"wallet {wallet} is not one of yours"
            if wallet
            else "link a wallet or get a managed wallet first"
        )
        self.user_id = user_id
        self.wallet = wallet


class BadFunding(DeploymentError):
    def __init__(self, reason: str, message: str, **details: int) -> None:
        super().__init__(message)
        self.reason = reason
        self.details = details


class DeploymentNotFound(DeploymentError):
    def __init__(self, deployment_id: int) -> None:
        super().__init__(f"deployment {deployment_id} not found")
        self.deployment_id = deployment_id


class WrongState(DeploymentError):
    def __init__(self, deployment_id: int, status: str, action: str) -> None:
        super().__init__(f"cannot {action} deployment {deployment_id} while it is {status}")
        self.deployment_id = deployment_id
        self.status = status
        self.action = action
