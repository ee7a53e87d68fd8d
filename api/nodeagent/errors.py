"""Errors of the node agent (tree in :mod:`api.nodeagent`)."""

from __future__ import annotations


class AgentError(Exception):
    """Root of the agent's errors."""


class InvalidManifest(AgentError):
    """A workload manifest cannot be run as given (bad id, empty command, bad env name, duplicate id)."""

    def __init__(self, workload_id: str, reason: str) -> None:
        super().__init__(f"workload {workload_id!r}: {reason}")
        self.workload_id = workload_id
        self.reason = reason
