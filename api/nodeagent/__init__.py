"""The reference node agent's local workload runtime (no HTTP here: the polling client plugs in later).

:class:`ProcessRuntime` runs each :class:`WorkloadManifest` as a local process in its own process group,
reconciles the running set against the desired one (:meth:`ProcessRuntime.ensure`), restarts crashed
workloads per :class:`RestartPolicy`, reports state and usage, and persists ``{workload_id: pid, start
time, spec hash}`` so that a restarted agent re-adopts its workloads instead of starting second copies.

Exceptions::

    AgentError
    └── InvalidManifest
"""

from api.nodeagent.errors import AgentError, InvalidManifest
from api.nodeagent.manifest import RestartMode, RestartPolicy, WorkloadManifest
from api.nodeagent.runtime import ProcessRuntime, Verifier, WorkloadState, WorkloadStatus

__all__ = [
    "AgentError",
    "InvalidManifest",
    "ProcessRuntime",
    "RestartMode",
    "RestartPolicy",
    "Verifier",
    "WorkloadManifest",
    "WorkloadState",
    "WorkloadStatus",
]
