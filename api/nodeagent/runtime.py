"""Run workloads as local processes and keep them matching the desired set.

Per workload: ``create_subprocess_exec`` in a new session (its own process group, so a stop reaches its
children too), stdin from /dev/null, stdout+stderr appended to ``<state_dir>/logs/<id>.log``, a clean
environment (the agent's own variables, such as its token, never leak in), cwd ``<state_dir>/work/<id>``.

Lifecycle (:class:`WorkloadState`)::

    starting -> running -> exited(0) | crashed(code)  --policy/backoff-->  starting ...
       any live state --not desired--> stopped (SIGTERM to the group, SIGKILL after the grace period)
    verify(manifest) false --> rejected (never started)

Only :meth:`ProcessRuntime.ensure` and :meth:`ProcessRuntime.tick` change state, both from the event
loop; :meth:`ProcessRuntime.run` calls ``tick`` when a child exits or every ``interval`` seconds.
The clock is injectable so backoff is testable without sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from api.nodeagent import procfs
from api.nodeagent.errors import InvalidManifest
from api.nodeagent.manifest import WorkloadManifest
from api.nodeagent.state import RunningRecord, StateFile

log = logging.getLogger(__name__)

Verifier = Callable[[WorkloadManifest], bool | Awaitable[bool]]


def default_env() -> dict[str, str]:
    """What a workload inherits from the agent: a PATH and a locale, nothing else."""
    return {"PATH": os.environ.get("PATH", os.defpath), "LANG": "C.UTF-8"}


def accept_all(_manifest: WorkloadManifest) -> bool:
    return True


class WorkloadState(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    EXITED = "exited"
    CRASHED = "crashed"
    STOPPED = "stopped"
    REJECTED = "rejected"


@dataclass(frozen=True)
class WorkloadStatus:
    """What the heartbeat reports for one workload."""

    workload_id: str
    lease_id: int
    spec_hash: str
    state: WorkloadState
    pid: int | None = None
    exit_code: int | None = None  # None while running, or when unknown (an adopted process)
    restarts: int = 0
    restart_in: float | None = None  # seconds until the next restart attempt, if one is scheduled
    cpu_seconds: float = 0.0
    rss_bytes: int = 0
    reason: str | None = None


@dataclass
class _Workload:
    manifest: WorkloadManifest
    state: WorkloadState = WorkloadState.STARTING
    pid: int | None = None
    start_time: int | None = None
    proc: asyncio.subprocess.Process | None = None  # None for a process adopted from a previous agent
    started_at: float = 0.0
    exit_code: int | None = None
    restarts: int = 0
    restart_at: float | None = None
    reason: str | None = None

    @property
    def live(self) -> bool:
        return self.state in (WorkloadState.STARTING, WorkloadState.RUNNING)


class ProcessRuntime:
    def __init__(
        self,
        state_dir: Path | str,
        *,
        stop_grace: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        base_env: dict[str, str] | None = None,
    ) -> None:
        self._dir = Path(state_dir)
        self._stop_grace = stop_grace
        self._clock = clock
        self._base_env = (
            base_env
            if base_env is not None
            else {"PATH": os.environ.get("PATH", os.defpath), "LANG": "C.UTF-8"}
        )
        self._state = StateFile(self._dir / "workloads.json")
        self._workloads: dict[str, _Workload] = {}
        self._loaded = False
        self._changed = asyncio.Event()
        self._watchers: set[asyncio.Task[None]] = set()

    # -- public API ----------------------------------------------------------------------------------

    async def ensure(
        self, desired: Iterable[WorkloadManifest], verify: Verifier = accept_all
    ) -> list[WorkloadStatus]:
        """Make the running set equal ``desired``; returns the status of every workload, plus those
        stopped or rejected by this call."""
        self._load()
        wanted: dict[str, WorkloadManifest] = {}
        for m in desired:
            if m.workload_id in wanted:
                raise InvalidManifest(m.workload_id, "listed twice in the desired set")
            wanted[m.workload_id] = m

        outgoing = [
            w
            for wid, w in self._workloads.items()
            if wid not in wanted or not w.manifest.same_spec(wanted[wid])
        ]
        await asyncio.gather(*(self._stop(w) for w in outgoing))
        finished: list[WorkloadStatus] = []
        for w in outgoing:
            del self._workloads[w.manifest.workload_id]
            if w.manifest.workload_id not in wanted:
                finished.append(self._status(w))

        for wid, m in wanted.items():
            if wid in self._workloads:
                continue
            ok, reason = await self._verify(verify, m)
            if not ok:
                finished.append(
                    WorkloadStatus(wid, m.lease_id, m.spec_hash, WorkloadState.REJECTED, reason=reason)
                )
                continue
            w = _Workload(m)
            self._workloads[wid] = w
            await self._start(w)
        self._save()
        return [*await self.tick(), *sorted(finished, key=lambda s: s.workload_id)]

    async def tick(self) -> list[WorkloadStatus]:
        """Notice exits, restart what is due; returns the current statuses."""
        self._load()
        now = self._clock()
        dirty = False
        for w in self._workloads.values():
            if w.live:
                exited, code = self._poll_exit(w)
                if exited:
                    self._on_exit(w, code, now)
                    dirty = True
                elif w.state is WorkloadState.STARTING:
                    w.state = WorkloadState.RUNNING
            elif w.restart_at is not None and now >= w.restart_at:
                w.restarts += 1
                w.restart_at = None
                await self._start(w)
                dirty = True
        if dirty:
            self._save()
        return self.status()

    def status(self) -> list[WorkloadStatus]:
        return [self._status(w) for _, w in sorted(self._workloads.items())]

    async def wait_changed(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109  (poll interval)
        """Sleep until a child process exits (True) or ``timeout`` passes (False)."""
        try:
            async with asyncio.timeout(timeout):
                await self._changed.wait()
        except TimeoutError:
            return False
        self._changed.clear()
        return True

    async def run(self, interval: float = 1.0) -> None:
        """Supervise forever: tick on every child exit and at least every ``interval`` seconds."""
        while True:
            await self.wait_changed(interval)
            await self.tick()

    async def stop_all(self) -> list[WorkloadStatus]:
        """Stop every workload (agent shutdown with ``--stop-workloads``, tests)."""
        return await self.ensure([])

    async def close(self) -> None:
        """Detach: workloads keep running and are re-adopted by the next agent on this state_dir."""
        for task in list(self._watchers):
            task.cancel()
        await asyncio.gather(*self._watchers, return_exceptions=True)
        self._watchers.clear()

    # -- state file / adoption -----------------------------------------------------------------------

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        (self._dir / "logs").mkdir(parents=True, exist_ok=True)
        (self._dir / "work").mkdir(parents=True, exist_ok=True)
        now = self._clock()
        for wid, rec in self._state.load().items():
            if procfs.is_same_live_process(rec.pid, rec.start_time):
                self._workloads[wid] = _Workload(
                    rec.manifest,
                    state=WorkloadState.RUNNING,
                    pid=rec.pid,
                    start_time=rec.start_time,
                    started_at=now,
                )
                log.info("adopted workload", extra={"workload_id": wid, "pid": rec.pid})
            else:
                log.info("dropped stale workload record", extra={"workload_id": wid, "pid": rec.pid})
        self._save()

    def _save(self) -> None:
        records = {
            wid: RunningRecord(w.pid, w.start_time, w.manifest)
            for wid, w in self._workloads.items()
            if w.live and w.pid is not None and w.start_time is not None
        }
        self._state.save(records)

    # -- one workload --------------------------------------------------------------------------------

    async def _verify(self, verify: Verifier, m: WorkloadManifest) -> tuple[bool, str | None]:
        try:
            result = verify(m)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            log.warning("verification error", extra={"workload_id": m.workload_id}, exc_info=True)
            return False, f"verification error: {exc}"
        return (True, None) if result else (False, "spec hash verification failed")

    async def _start(self, w: _Workload) -> None:
        m = w.manifest
        workdir = self._dir / "work" / m.workload_id
        workdir.mkdir(parents=True, exist_ok=True)
        env = {
            **self._base_env,
            **m.env,
            "CLOUDMARKET_WORKLOAD_ID": m.workload_id,
            "CLOUDMARKET_LEASE_ID": str(m.lease_id),
        }
        now = self._clock()
        w.exit_code = None
        w.reason = None
        # Opening a local append-only log file does not block meaningfully; the child inherits the fd.
        with open(self._dir / "logs" / f"{m.workload_id}.log", "ab") as logf:  # noqa: ASYNC230
            try:
                proc = await asyncio.create_subprocess_exec(
                    *m.command,
                    env=env,
                    cwd=workdir,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=logf,
                    stderr=asyncio.subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                w.started_at = now
                self._on_exit(w, None, now)
                w.reason = f"cannot start: {exc}"
                return
        stat = procfs.read_stat(proc.pid)
        w.proc, w.pid, w.started_at = proc, proc.pid, now
        w.start_time = stat.start_time if stat is not None else None
        w.state = WorkloadState.STARTING
        task = asyncio.create_task(self._watch(proc), name=f"watch-{m.workload_id}")
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    async def _watch(self, proc: asyncio.subprocess.Process) -> None:
        await proc.wait()
        self._changed.set()

    def _poll_exit(self, w: _Workload) -> tuple[bool, int | None]:
        if w.proc is not None:
            code = w.proc.returncode
            return code is not None, code
        assert w.pid is not None
        # Adopted: not our child, the exit code is unknown.
        return not procfs.is_same_live_process(w.pid, w.start_time), None

    def _on_exit(self, w: _Workload, code: int | None, now: float) -> None:
        policy = w.manifest.restart_policy
        w.exit_code = code
        w.pid, w.proc, w.start_time = None, None, None
        w.state = WorkloadState.EXITED if code == 0 else WorkloadState.CRASHED
        if now - w.started_at >= policy.stable_seconds:
            w.restarts = 0
        if policy.wants_restart(code) and w.restarts < policy.max_restarts:
            w.restart_at = now + policy.delay(w.restarts)
        else:
            w.restart_at = None
        log.info(
            "workload exited",
            extra={"workload_id": w.manifest.workload_id, "exit_code": code, "restarts": w.restarts},
        )

    async def _stop(self, w: _Workload) -> None:
        w.restart_at = None
        if w.live and w.pid is not None:
            if w.proc is not None:
                await self._stop_child(w.proc)
            else:
                await self._stop_adopted(w.pid, w.start_time)
        w.state = WorkloadState.STOPPED
        w.pid, w.proc, w.start_time = None, None, None

    async def _stop_child(self, proc: asyncio.subprocess.Process) -> None:
        # Signal the group only while the leader is unreaped: then its pid (= the group id) cannot have
        # been reused.
        if proc.returncode is None:
            _kill_group(proc.pid, signal.SIGTERM)
        try:
            async with asyncio.timeout(self._stop_grace):
                await proc.wait()
        except TimeoutError:
            if proc.returncode is None:
                _kill_group(proc.pid, signal.SIGKILL)
            await proc.wait()

    async def _stop_adopted(self, pid: int, start_time: int | None) -> None:
        """Not our child: signal only after re-checking identity, then poll /proc until it is gone."""
        for sig, wait_for in ((signal.SIGTERM, self._stop_grace), (signal.SIGKILL, 30.0)):
            if not procfs.is_same_live_process(pid, start_time):
                return
            _kill_group(pid, sig)
            deadline = time.monotonic() + wait_for
            # A non-child's exit raises no event we can await here, so poll /proc (bounded, 50 Hz).
            while time.monotonic() < deadline and procfs.is_same_live_process(pid, start_time):  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        if procfs.is_same_live_process(pid, start_time):
            log.error("adopted workload survived SIGKILL", extra={"pid": pid})

    def _status(self, w: _Workload) -> WorkloadStatus:
        cpu, rss = 0.0, 0
        if w.live and w.pid is not None:
            stat = procfs.read_stat(w.pid)
            if stat is not None and stat.alive:
                cpu, rss = stat.cpu_seconds, procfs.read_rss_bytes(w.pid)
        m = w.manifest
        return WorkloadStatus(
            workload_id=m.workload_id,
            lease_id=m.lease_id,
            spec_hash=m.spec_hash,
            state=w.state,
            pid=w.pid,
            exit_code=w.exit_code,
            restarts=w.restarts,
            restart_in=None if w.restart_at is None else max(0.0, w.restart_at - self._clock()),
            cpu_seconds=cpu,
            rss_bytes=rss,
            reason=w.reason,
        )


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)
