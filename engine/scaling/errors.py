"""Scaling errors (the root derives from the deployments' root: a scaling command may also raise any
:mod:`engine.deployments.errors` leaf, ``NoNodeFits`` and ``NoRelay``)::

    EngineError
     └── DeploymentError
          └── ScalingError
               └── BadReplicas      400 bad_replicas: a replica count or autoscale bound outside
                                    ``1..max_replicas`` (operator setting)
"""

from __future__ import annotations

from typing import Any

from engine.deployments.errors import DeploymentError
from engine.errors import Kind


class ScalingError(DeploymentError):
    """Root of scaling errors."""

    code = "scaling_error"
    kind = Kind.CONFLICT


class BadReplicas(ScalingError):
    code = "bad_replicas"
    kind = Kind.INVALID

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message, details=details)
