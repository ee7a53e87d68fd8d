"""A node's desired state: the workloads it must run, and the cursor that names that state.

Desired set of database node N: every lease with ``node_id = N`` that is **open on chain** (``LeaseOpened``
indexed) and whose deployment is in a runnable status (:data:`engine.deployments.status.RUNNABLE`; a
``closing``/``closed``/``failed`` deployment's workloads are stopped at once, before the chain closes the
lease). Leases still awaiting funds are not run: nobody pays for them yet.

Cursor: a content digest of the desired set (``"v1-" + sha256(canonical JSON of the workload list)``,
32 hex digits). It changes exactly when the set (or any entry of it) changes, so no change can be missed
by a cursor that lagged behind a transaction (there is no counter to bump in every code path); an
A -> B -> A flap between two polls yields the same cursor, which is right for a desired state.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.deployments import models as m
from engine.deployments import status

RESTART_POLICIES = ("always", "on-failure", "never")
DEFAULT_RESTART_POLICY = "always"


@dataclass(frozen=True)
class DesiredState:
    node_id: int
    cursor: str
    workloads: list[dict[str, Any]]


def workload_id(deployment_id: int, replica: int) -> str:
    return f"d{deployment_id}-r{replica}"


def workload_entry(dep: m.Deployment, lease: m.Lease) -> dict[str, Any]:
    """One protocol workload entry from the deployment's stored (canonical) spec and the lease."""
    spec = dep.spec or {}
    res = spec.get("resources") or {}
    gpu = res.get("gpu") or {}
    policy = spec.get("restart_policy")
    ports = spec.get("ports") or []
    return {
        "workload_id": workload_id(dep.id, lease.replica_index),
        "deployment_id": dep.id,
        "replica": lease.replica_index,
        "role": lease.role,
        "lease_id": str(lease.chain_lease_id),
        "chain_node_id": int(lease.chain_node_id),
        "spec_hash": dep.spec_hash,
        "command": list(spec["command"]) if spec.get("command") is not None else None,
        "image": spec.get("image"),
        "env": {str(k): str(v) for k, v in (spec.get("env") or {}).items()},
        "ports": [int(p["port"]) if isinstance(p, dict) else int(p) for p in ports],
        "resources": {
            "cpu_millicores": int(res.get("cpu_millicores", 0)),
            "memory_mb": int(res.get("memory_mb", 0)),
            "disk_gb": int(res.get("disk_gb", 0)),
            "gpu_count": int(gpu.get("count", 0) or 0),
        },
        "restart_policy": policy if policy in RESTART_POLICIES else DEFAULT_RESTART_POLICY,
    }


def cursor_of(workloads: list[dict[str, Any]]) -> str:
    blob = json.dumps(workloads, sort_keys=True, separators=(",", ":")).encode()
    return "v1-" + hashlib.sha256(blob).hexdigest()[:32]


async def desired_state(session: AsyncSession, node_id: int) -> DesiredState:
    """The node's desired state, read in one query."""
    stmt = (
        select(m.Lease, m.Deployment)
        .join(m.Deployment, m.Deployment.id == m.Lease.deployment_id)
        .where(
            m.Lease.node_id == node_id,
            m.Lease.status == m.LEASE_OPEN,
            m.Lease.chain_lease_id.is_not(None),
            m.Deployment.status.in_(status.RUNNABLE),
        )
        .order_by(m.Lease.deployment_id, m.Lease.replica_index, m.Lease.role)
    )
    workloads = [workload_entry(dep, lease) for lease, dep in (await session.execute(stmt)).all()]
    return DesiredState(node_id, cursor_of(workloads), workloads)
