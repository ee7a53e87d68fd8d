"""The reference node agent: long-poll the desired state, run it, report it.

Three tasks share one :class:`ProcessRuntime` (``ensure`` and ``tick`` serialized by a lock)::

    poll       GET workloads?cursor&wait  -> manifests -> runtime.ensure(manifests, verify)
    supervise  wake on a child exit or every second -> runtime.tick() (restarts per policy)
    heartbeat  every server-suggested interval, and soon after a state change -> POST heartbeat

A workload the agent cannot run (no command for the process runtime, an invalid manifest, a spec hash
that does not match its lease on chain) is never started and is reported as ``rejected`` while it stays
in the desired set; rejected workloads are re-checked every ``recheck_rejected`` seconds (a lease mined
late, an RPC outage). A workload that leaves the desired set is stopped and reported ``stopped`` once.

On stop (SIGINT/SIGTERM in the CLI) workloads keep running unless ``stop_workloads_on_exit``: the next
agent on the same state directory re-adopts them. A 401/403 from the API ends :meth:`Agent.run` with
:class:`~api.nodeagent.client.NodeAuthRejected`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from api.nodeagent.client import NodeApiClient, NodeApiError
from api.nodeagent.errors import InvalidManifest
from api.nodeagent.manifest import RestartMode, RestartPolicy, WorkloadManifest
from api.nodeagent.runtime import ProcessRuntime, WorkloadState, WorkloadStatus
from api.nodeagent.verify import Verdict

log = logging.getLogger(__name__)

AGENT_VERSION = "cloudmarket-agent/0.1"
MIB = 1024 * 1024
GIB = 1024 * MIB
MAX_REASON = 1000  # the heartbeat schema's bound on a reason

# check(lease_id, spec_hash, chain_node_id) -> verdict (LeaseVerifier.verify)
LeaseCheck = Callable[[int, str, int], Awaitable[Verdict]]


@dataclass
class AgentConfig:
    wait: int = 30
    heartbeat_interval: float = 15.0  # until the server suggests one
    min_heartbeat_gap: float = 1.0  # state-change heartbeats are not sent closer than this
    supervise_interval: float = 1.0
    recheck_rejected: float = 30.0
    min_poll_gap: float = 0.2  # floor between polls, against a server that answers held polls at once
    stop_workloads_on_exit: bool = False
    version: str = AGENT_VERSION


@dataclass(frozen=True)
class Desired:
    """One desired entry mapped for the runtime, or the reason it cannot run."""

    workload_id: str
    lease_id: int
    spec_hash: str
    chain_node_id: int
    manifest: WorkloadManifest | None
    reason: str | None = None


def to_desired(entry: dict[str, Any]) -> Desired:
    """Map a protocol workload entry to a :class:`WorkloadManifest` (or a rejection reason)."""
    workload_id = str(entry.get("workload_id", ""))
    try:
        lease_id = int(str(entry["lease_id"]))
        spec_hash = str(entry["spec_hash"]).lower()
        chain_node_id = int(entry["chain_node_id"])
    except (KeyError, TypeError, ValueError) as exc:
        return Desired(workload_id, 0, "", 0, None, f"malformed workload entry: {exc!r}")
    command = entry.get("command")
    if not command:
        reason = "the process runtime needs a command"
        if entry.get("image"):
            reason += f" (image {entry['image']!r} needs a container runtime)"
        return Desired(workload_id, lease_id, spec_hash, chain_node_id, None, reason)
    try:
        policy = RestartPolicy(mode=RestartMode(str(entry.get("restart_policy") or "on-failure")))
        env = {str(k): str(v) for k, v in (entry.get("env") or {}).items()}
        manifest = WorkloadManifest(
            lease_id=lease_id,
            workload_id=workload_id,
            spec_hash=spec_hash,
            command=[str(a) for a in command],
            env=env,
            restart_policy=policy,
        )
    except (InvalidManifest, ValueError, TypeError, AttributeError) as exc:
        return Desired(workload_id, lease_id, spec_hash, chain_node_id, None, str(exc))
    return Desired(workload_id, lease_id, spec_hash, chain_node_id, manifest)


def status_json(s: WorkloadStatus) -> dict[str, Any]:
    return {
        "workload_id": s.workload_id,
        "lease_id": str(s.lease_id),
        "state": s.state.value,
        "restarts": s.restarts,
        "cpu_seconds": max(0.0, float(s.cpu_seconds)),
        "rss_bytes": int(s.rss_bytes),
        "exit_code": s.exit_code,
        "reason": None if s.reason is None else s.reason[:MAX_REASON],
    }


def dir_size_bytes(path: Path) -> int:
    """Disk used under ``path`` (allocated blocks; best effort, files vanish while we walk)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total


@dataclass
class _Usage:
    last_cpu: float | None = None
    last_at: float = 0.0
    samples: dict[str, float] = field(default_factory=dict)


class Agent:
    def __init__(
        self,
        client: NodeApiClient,
        runtime: ProcessRuntime,
        check: LeaseCheck,
        config: AgentConfig | None = None,
        *,
        state_dir: Path | None = None,
    ) -> None:
        self.client = client
        self.runtime = runtime
        self._check = check
        self.config = config or AgentConfig()
        self._state_dir = state_dir
        self._lock = asyncio.Lock()
        self._wake_heartbeat = asyncio.Event()
        self._interval = self.config.heartbeat_interval
        self._desired: list[Desired] = []
        self._rejected: dict[str, WorkloadStatus] = {}
        self._finished: dict[str, WorkloadStatus] = {}  # stopped, reported once
        self._last_states: dict[str, WorkloadState] = {}
        self._last_applied_at = 0.0
        self._usage = _Usage()
        self._reasons: dict[str, str] = {}
        self.cursor: str | None = None
        self.heartbeats_sent = 0

    # -- public --------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set (then shut down gracefully) or a task fails (re-raised, e.g.
        :class:`NodeAuthRejected`)."""
        tasks = [
            asyncio.create_task(self._poll_loop(), name="agent-poll"),
            asyncio.create_task(self._supervise_loop(), name="agent-supervise"),
            asyncio.create_task(self._heartbeat_loop(), name="agent-heartbeat"),
        ]
        stopper = asyncio.create_task(stop.wait(), name="agent-stop")
        try:
            done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in [*tasks, stopper]:
                t.cancel()
            await asyncio.gather(*tasks, stopper, return_exceptions=True)
        try:
            for t in tasks:
                if t in done and not t.cancelled() and t.exception() is not None:
                    raise t.exception()  # type: ignore[misc]
        finally:
            await self.shutdown()

    async def shutdown(self) -> None:
        if self.config.stop_workloads_on_exit:
            async with self._lock:
                stopped = await self.runtime.stop_all()
            for s in stopped:
                self._finished[s.workload_id] = s
            self._rejected.clear()
            # Best effort: tell the server they are stopped, without the retry loop.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await self.client.heartbeat(self.heartbeat_payload())
        await self.runtime.close()

    async def apply(self, entries: list[dict[str, Any]]) -> list[WorkloadStatus]:
        """Make the runtime match ``entries`` (the complete desired set)."""
        desired = [to_desired(e) for e in entries]
        self._desired = desired
        return await self._ensure()

    def heartbeat_payload(self) -> dict[str, Any]:
        statuses: dict[str, WorkloadStatus] = {}
        for s in self._finished.values():
            statuses[s.workload_id] = s
        for s in self.runtime.status():
            statuses[s.workload_id] = s
        for s in self._rejected.values():
            statuses[s.workload_id] = s
        live = [s for s in statuses.values() if s.state in (WorkloadState.STARTING, WorkloadState.RUNNING)]
        cpu_total = sum(s.cpu_seconds for s in live)
        now = time.monotonic()
        millicores = 0
        if self._usage.last_cpu is not None and now > self._usage.last_at:
            millicores = int(max(0.0, cpu_total - self._usage.last_cpu) / (now - self._usage.last_at) * 1000)
        self._usage.last_cpu, self._usage.last_at = cpu_total, now
        disk = dir_size_bytes(self._state_dir / "work") if self._state_dir is not None else 0
        return {
            "resources": {
                "cpu_millicores_used": millicores,
                "memory_mb_used": sum(s.rss_bytes for s in live) // MIB,
                "disk_gb_used": disk // GIB,
            },
            "workloads": [status_json(statuses[k]) for k in sorted(statuses)],
            "agent": {"version": self.config.version},
        }

    # -- loops ---------------------------------------------------------------------------------------

    async def _poll_loop(self) -> None:
        first = True
        while True:
            started = time.monotonic()
            state = await self.client.desired(self.cursor, self.config.wait)
            self.cursor = state.cursor
            if first or state.changed:
                await self.apply(state.workloads)
                first = False
                self._wake_heartbeat.set()
            elif self._rejected and time.monotonic() - self._last_applied_at >= self.config.recheck_rejected:
                await self._ensure()
                self._wake_heartbeat.set()
            if not state.changed and time.monotonic() - started < self.config.min_poll_gap:
                await asyncio.sleep(self.config.min_poll_gap)

    async def _supervise_loop(self) -> None:
        while True:
            await self.runtime.wait_changed(self.config.supervise_interval)
            async with self._lock:
                statuses = await self.runtime.tick()
            if self._states_changed(statuses):
                self._wake_heartbeat.set()

    async def _heartbeat_loop(self) -> None:
        while True:
            self._wake_heartbeat.clear()
            payload = self.heartbeat_payload()
            try:
                ack = await self.client.heartbeat(payload)
            except NodeApiError as exc:
                if exc.status in (401, 403):
                    raise
                log.warning("heartbeat refused", extra={"status": exc.status, "detail": exc.detail})
            else:
                self.heartbeats_sent += 1
                if ack.heartbeat_interval > 0:
                    self._interval = float(ack.heartbeat_interval)
                reported = {w["workload_id"] for w in payload["workloads"]}
                for wid in list(self._finished):
                    if wid in reported:
                        del self._finished[wid]
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._wake_heartbeat.wait()
            await asyncio.sleep(self.config.min_heartbeat_gap)

    # -- helpers -------------------------------------------------------------------------------------

    async def _ensure(self) -> list[WorkloadStatus]:
        desired = self._desired
        by_id = {d.workload_id: d for d in desired}
        rejected: dict[str, WorkloadStatus] = {}
        runnable: list[WorkloadManifest] = []
        for d in desired:
            if d.workload_id in rejected or any(m.workload_id == d.workload_id for m in runnable):
                rejected[d.workload_id] = _rejected(d, "listed twice in the desired set")
                runnable = [m for m in runnable if m.workload_id != d.workload_id]
            elif d.manifest is None:
                rejected[d.workload_id] = _rejected(d, d.reason)
            else:
                runnable.append(d.manifest)
        self._reasons = {}

        async def verify(m: WorkloadManifest) -> bool:
            entry = by_id[m.workload_id]
            verdict = await self._check(m.lease_id, m.spec_hash, entry.chain_node_id)
            if not verdict.ok:
                self._reasons[m.workload_id] = verdict.reason or "spec hash verification failed"
                log.warning(
                    "workload rejected", extra={"workload_id": m.workload_id, "reason": verdict.reason}
                )
            return verdict.ok

        async with self._lock:
            statuses = await self.runtime.ensure(runnable, verify)
        for s in statuses:
            if s.state is WorkloadState.REJECTED:
                reason = self._reasons.get(s.workload_id, s.reason)
                rejected[s.workload_id] = WorkloadStatus(
                    s.workload_id, s.lease_id, s.spec_hash, WorkloadState.REJECTED, reason=reason
                )
            elif s.state is WorkloadState.STOPPED and s.workload_id not in by_id:
                self._finished[s.workload_id] = s
        for wid in by_id:
            self._finished.pop(wid, None)
        self._rejected = rejected
        self._last_applied_at = time.monotonic()
        self._states_changed(statuses)
        return statuses

    def _states_changed(self, statuses: list[WorkloadStatus]) -> bool:
        now = {s.workload_id: s.state for s in statuses}
        changed = now != self._last_states
        self._last_states = now
        return changed


def _rejected(d: Desired, reason: str | None) -> WorkloadStatus:
    return WorkloadStatus(d.workload_id, d.lease_id, d.spec_hash, WorkloadState.REJECTED, reason=reason)
